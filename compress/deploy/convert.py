"""A trained Keras model to a full-integer int8 .tflite: calibration images, PTQ conversion, QAT fine-tuning.

Apart from compress.deploy.export (which verifies the result and writes the files) so that scripts and the latency
fits can convert a model without computing the export's figures."""
from __future__ import annotations

import numpy as np

from compress import CompressError

QAT_EPOCHS = 2  # quantization-aware fine-tuning from trained weights needs only a little: tfmot's guide uses 1-2


def representative_images(x: np.ndarray, samples: int, seed: int) -> np.ndarray:
    """A seeded random subset of the training images to calibrate activation ranges with."""
    rng = np.random.default_rng(seed)
    idx = np.sort(rng.choice(len(x), size=min(samples, len(x)), replace=False))
    return x[idx].astype(np.float32)


def convert_int8(model, calibration: np.ndarray) -> bytes:
    """Full-integer conversion: int8 weights, activations, input and output (TFLITE_BUILTINS_INT8 only).

    A model with a recurrent layer is converted with a fixed batch of 1 (batch_one)."""
    import tensorflow as tf

    converter = tf.lite.TFLiteConverter.from_keras_model(batch_one(model))
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = lambda: ([img[None]] for img in calibration)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    try:
        return converter.convert()
    except Exception as exc:  # the converter raises many types; all mean "this model has no int8 form"
        raise CompressError(f"int8 conversion failed: {str(exc).splitlines()[0]}") from None


def batch_one(model):
    """The model with a fixed batch of 1 if it holds a recurrent layer (a Keras LSTM), else the model itself.

    With a free batch the converter cannot lower the LSTM's loop (TensorListReserve needs a static shape) and
    int8 conversion fails; with batch 1 it fuses each LSTM into one UNIDIRECTIONAL_SEQUENCE_LSTM op (int8
    activations, int16 cell state), which the tflite-micro runtime and TFLM on a Cortex-M4 run (README, LSTM).
    Same layers, same weights: the model is called on a batch-1 input, its outputs keep their names (identity
    layers; a multi-task export finds its tasks by them)."""
    import tf_keras as keras

    def recurrent(layer) -> bool:  # also inside a nested model or a wrapper (tfmot's QuantizeWrapper, Bidirectional)
        inner = list(getattr(layer, "layers", None) or []) + [getattr(layer, "layer", None)]
        return isinstance(layer, keras.layers.RNN) or any(recurrent(sub) for sub in inner if sub is not None)

    if not any(recurrent(layer) for layer in model.layers) or model.input_shape[0] == 1:
        return model
    inputs = keras.Input(model.input_shape[1:], batch_size=1, name=model.input_names[0])
    found = model(inputs)
    outputs = [keras.layers.Activation("linear", name=name.split("/")[0])(tensor)
               for name, tensor in zip(model.output_names, found if isinstance(found, (list, tuple)) else [found])]
    return keras.Model(inputs, outputs if isinstance(found, (list, tuple)) else outputs[0], name=model.name)


def quantize_aware(model, x: np.ndarray, y: np.ndarray, *, epochs: int = QAT_EPOCHS, seed: int = 0):
    """tfmot quantization-aware fine-tuning from the model's trained weights (fake-quant in every layer).

    A multi-output model takes y (N, K): column k for output k (Keras order)."""
    import tensorflow_model_optimization as tfmot
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    try:
        qat = tfmot.quantization.keras.quantize_model(model)
    except (ValueError, RuntimeError) as exc:
        raise CompressError(f"quantization-aware training does not support this model: {exc}") from None
    qat.compile(optimizer=keras.optimizers.Adam(1e-4), loss="sparse_categorical_crossentropy")
    targets = [y[:, k] for k in range(y.shape[1])] if len(qat.outputs) > 1 else y
    qat.fit(x, targets, batch_size=64, epochs=epochs, verbose=0, shuffle=True)
    return qat

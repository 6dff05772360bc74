"""Issue 26: TensorFlow 2.21's oneDNN kernels segfault (exit 139) training fer's mini-Xception on a fresh install.

compress turns oneDNN off before TensorFlow is imported; this trains a model the size of fer's mini-Xception
(64x64x1, separable convs, residual adds, batch norm, 7 classes) in a child process that imports TensorFlow only
through compress, and asserts it ends with exit 0 and with oneDNN off.
"""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CHILD = textwrap.dedent("""
    import os
    import compress  # first: it sets the environment TensorFlow reads at import
    import numpy as np
    import tf_keras as K
    from tf_keras import layers as L

    def mini_xception(classes=7):
        inputs = K.Input((64, 64, 1))
        x = inputs
        for _ in range(2):
            x = L.Activation("relu")(L.BatchNormalization()(L.Conv2D(8, 3, use_bias=False)(x)))
        for filters in (16, 32, 64, 128):
            residual = L.BatchNormalization()(L.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x))
            x = L.Activation("relu")(L.BatchNormalization()(L.SeparableConv2D(filters, 3, padding="same",
                                                                              use_bias=False)(x)))
            x = L.BatchNormalization()(L.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x))
            x = L.add([L.MaxPooling2D(3, strides=2, padding="same")(x), residual])
        x = L.GlobalAveragePooling2D()(L.Conv2D(classes, 3, padding="same")(x))
        return K.Model(inputs, L.Activation("softmax")(x))

    model = mini_xception()
    model.compile(K.optimizers.Adam(1e-4), "sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    model.fit(rng.random((128, 64, 64, 1), dtype=np.float32), rng.integers(0, 7, 128), batch_size=64, epochs=1,
              verbose=0)
    print("onednn", os.environ.get("TF_ENABLE_ONEDNN_OPTS"), "params", model.count_params())
""")


def test_a_fer_sized_mini_xception_trains_without_a_crash():
    env = {k: v for k, v in os.environ.items() if k not in ("TF_ENABLE_ONEDNN_OPTS", "TF_USE_LEGACY_KERAS")}
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300,
                          env={**env, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert proc.returncode == 0, f"exit {proc.returncode} (139 or -11: SIGSEGV in TensorFlow): {proc.stderr[-2000:]}"
    assert "onednn 0 params" in proc.stdout, proc.stdout

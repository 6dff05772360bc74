"""Keras models written the way third parties write them (not our zoo): the import, cost and round-trip tests use them."""


def mini_xception(input_shape=(20, 20, 1), classes=3):
    """oarriaga's FER mini-Xception pattern: bias-free convs, separable convs, strided 1x1 shortcuts, Add, a class
    conv + GAP + softmax head; with a Rescaling input, a ReLU6, a Concatenate branch and ZeroPadding2D as well."""
    import tf_keras as keras

    L = keras.layers
    x = inputs = keras.Input(input_shape)
    x = L.Rescaling(1 / 127.5, offset=-1.0)(x)
    x = L.Conv2D(8, 3, use_bias=False)(x)
    x = L.BatchNormalization(epsilon=1e-5)(x)
    x = L.Activation("relu")(x)
    for filters in (16, 24):
        residual = L.BatchNormalization()(L.Conv2D(filters, 1, strides=2, padding="same", use_bias=False)(x))
        x = L.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = L.ReLU(6.0)(L.BatchNormalization()(x))
        x = L.SeparableConv2D(filters, 3, padding="same", use_bias=False)(x)
        x = L.BatchNormalization()(x)
        x = L.MaxPooling2D(3, strides=2, padding="same")(x)
        x = L.Add()([x, residual])
    left = L.Conv2D(4, 1, activation="relu")(x)
    right = L.DepthwiseConv2D(3, padding="same")(x)
    x = L.ZeroPadding2D(1)(L.Concatenate()([left, right]))
    x = L.GlobalAveragePooling2D()(L.Conv2D(classes, 3)(x))
    return keras.Model(inputs, L.Activation("softmax")(x), name="mini_xception")


def sequential_cnn(input_shape=(16, 16, 3), classes=4):
    """A Keras-tutorial Sequential CNN: Normalization at the input, Conv2D(activation=relu), GlobalMaxPooling,
    Dropout, Dense layers and a separate Activation('softmax')."""
    import tf_keras as keras

    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape), L.Normalization(mean=[0.5, 0.4, 0.3], variance=[0.04, 0.09, 0.01]),
        L.Conv2D(6, 3, activation="relu"), L.MaxPooling2D(), L.Dropout(0.2),
        L.Conv2D(8, 3, padding="same"), L.AveragePooling2D(2), L.Flatten(), L.Dense(10, activation="relu"),
        L.Dense(classes), L.Activation("softmax")], name="sequential_cnn")


def logits_resnet(input_shape=(12, 12, 3), classes=5):
    """A functional residual net that outputs logits (no softmax): conv stem, identity Add, GMP, Dense."""
    import tf_keras as keras

    L = keras.layers
    x = inputs = keras.Input(input_shape)
    x = L.Conv2D(8, 3, padding="same", activation="relu")(x)
    y = L.Conv2D(8, 3, padding="same")(x)
    y = L.BatchNormalization()(y)
    x = L.ReLU()(L.Add()([x, y]))
    x = L.GlobalMaxPooling2D()(x)
    return keras.Model(inputs, L.Dense(classes)(x), name="logits_resnet")


BUILDERS = (mini_xception, sequential_cnn, logits_resnet)


def trained(build, seed=0):
    """The model after one epoch on random data (so BN statistics and weights are not their initial values)."""
    import numpy as np
    import tf_keras as keras

    keras.utils.set_random_seed(seed)
    model = build()
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (64, *model.input_shape[1:])).astype(np.float32)
    if model.name == "mini_xception":
        x *= 255
    y = rng.integers(0, model.output_shape[-1], 64)
    model.compile(optimizer=keras.optimizers.Adam(1e-2),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=model.name == "logits_resnet"))
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    return model, x

"""compress: shrink a Keras classifier until it fits a microcontroller, then ship it as TFLite Micro firmware."""
import os

# tfmot does not support Keras 3: every TensorFlow import in this package must see the legacy Keras.
os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

__version__ = "0.1.0"


class CompressError(Exception):
    """A problem with the user's input or environment: the CLI prints it as one line and exits non-zero."""

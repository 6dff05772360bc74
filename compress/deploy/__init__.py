"""From a trained model to a device: int8 export, C arrays, the TFLM runtime on the host, Arduino sketches."""

"""What a network is and what it costs: specs, the zoo, reductions, cost, Keras and .tflite files (no TensorFlow at import)."""

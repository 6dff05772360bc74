// TensorFlowLite.h: what the Arduino_TensorFlowLite library's umbrella header is to a sketch for the Nano 33 BLE,
// here empty: in QEMU the sketch is compiled against a TFLM tree, whose headers it includes by their own paths.
#ifndef COMPRESS_TENSORFLOWLITE_SHIM_H_
#define COMPRESS_TENSORFLOWLITE_SHIM_H_
#endif  // COMPRESS_TENSORFLOWLITE_SHIM_H_

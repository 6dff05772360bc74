// The TFLM platform hook the Arduino_TensorFlowLite library defines for a sketch that brings none (the Nano 33 BLE
// sketch): DebugLog() to the host. tflite::InitializeTarget() is the tree's default (system_setup.cc).
#include <stdarg.h>
#include <stdio.h>

extern "C" void DebugLog(const char* format, va_list args) { vprintf(format, args); }

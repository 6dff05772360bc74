// main() for a compress sketch in QEMU: setup(), then loop() COMPRESS_SKETCH_LOOPS times, then exit.
#include <stdio.h>

#include "Arduino.h"
#include "timer.h"

#ifndef COMPRESS_CLOCK_MHZ
#define COMPRESS_CLOCK_MHZ 48
#endif
#ifndef COMPRESS_SKETCH_LOOPS
#define COMPRESS_SKETCH_LOOPS 1
#endif

ShimSerial Serial;

namespace {
uint64_t elapsed_instructions() { return compress_timer::Instructions(0, compress_timer::Ticks()); }
}  // namespace

unsigned long micros() { return static_cast<unsigned long>(elapsed_instructions() / COMPRESS_CLOCK_MHZ); }
unsigned long millis() { return static_cast<unsigned long>(elapsed_instructions() / (COMPRESS_CLOCK_MHZ * 1000)); }
void delay(unsigned long) {}

int main() {
  compress_timer::Start();
  setup();
  for (int i = 0; i < COMPRESS_SKETCH_LOOPS; ++i) loop();
  fflush(stdout);
  return 0;
}

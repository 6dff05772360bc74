// A minimal Arduino API for running a compress sketch in QEMU's mps2-an386: Serial prints to the host
// (semihosting), micros()/millis() count emulated instructions at the device clock, delay() returns at once.
//
// Time: with QEMU's -icount shift=0 one instruction is one nanosecond of virtual time (timer.h). micros() reports
// instructions / COMPRESS_CLOCK_MHZ, i.e. the time on a device at that clock that executes one instruction per
// cycle. A real Cortex-M4 needs somewhat more cycles than instructions; the board's own micros() is the truth.
#ifndef COMPRESS_ARDUINO_SHIM_H_
#define COMPRESS_ARDUINO_SHIM_H_

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#define DEC 10
#define HEX 16
#define LOW 0
#define HIGH 1
#define INPUT 0
#define OUTPUT 1
#define LED_BUILTIN 13

void pinMode(uint8_t pin, uint8_t mode);  // defined by a shim that needs pins (runner/camera: the LED)
void digitalWrite(uint8_t pin, uint8_t value);

unsigned long micros();
unsigned long millis();
void delay(unsigned long ms);

void setup();
void loop();

class ShimSerial {
 public:
  void begin(unsigned long) {}
  explicit operator bool() const { return true; }

  size_t print(const char* s) { return static_cast<size_t>(printf("%s", s)); }
  size_t print(char c) { return static_cast<size_t>(printf("%c", c)); }
  size_t print(int n, int base = DEC) { return print(static_cast<long>(n), base); }
  size_t print(unsigned int n, int base = DEC) { return print(static_cast<unsigned long>(n), base); }
  size_t print(long n, int base = DEC) {
    return static_cast<size_t>(base == HEX ? printf("%lx", static_cast<unsigned long>(n)) : printf("%ld", n));
  }
  size_t print(unsigned long n, int base = DEC) {
    return static_cast<size_t>(base == HEX ? printf("%lx", n) : printf("%lu", n));
  }
  size_t print(double x, int digits = 2) { return static_cast<size_t>(printf("%.*f", digits, x)); }

  size_t println() { return static_cast<size_t>(printf("\r\n")); }
  template <typename T>
  size_t println(T value) {
    return print(value) + println();
  }
  template <typename T>
  size_t println(T value, int format) {
    return print(value, format) + println();
  }
};

extern ShimSerial Serial;

#endif  // COMPRESS_ARDUINO_SHIM_H_

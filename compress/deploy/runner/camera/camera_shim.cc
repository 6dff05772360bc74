// The camera and LED of a compress camera sketch in QEMU: HM01B0::capture() returns the frames of camera_frames.h
// (written by compress.deploy.camera_emulator: test images placed in camera-sized frames) one after another, and
// every digitalWrite() to LED_BUILTIN is printed with the frame last captured, so the host reads the LED's
// decisions without trusting the sketch's own Serial lines.
#include <stdio.h>
#include <string.h>

#include "Arduino.h"
#include "camera_frames.h"
#include "hm01b0_arduino.h"

static_assert(sizeof(kShimFrames[0]) == HM01B0::frameBufferSize, "camera_frames.h holds frames of another size");

namespace {
int captured = -1;  // index of the frame last returned by capture(); -1 before the first
}  // namespace

hm01b0_status_e HM01B0::begin(void) { return status = HM01B0_ERR_OK; }
hm01b0_status_e HM01B0::calibrateAutoExposure(void) { return status = HM01B0_ERR_OK; }
hm01b0_status_e HM01B0::end(void) { return status = HM01B0_ERR_OK; }

hm01b0_status_e HM01B0::capture(void) {
  captured = (captured + 1) % kShimFrameCount;
  memcpy(frameBuffer, kShimFrames[captured], frameBufferSize);
  return status = HM01B0_ERR_OK;
}

void pinMode(uint8_t, uint8_t) {}

void digitalWrite(uint8_t pin, uint8_t value) {
  if (pin == LED_BUILTIN && captured >= 0) printf("shim-led: frame %d %s\n", captured, value ? "on" : "off");
}

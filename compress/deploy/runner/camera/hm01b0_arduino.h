// QEMU stand-in for SparkFun's HM01B0 Arduino library ("SparkFun Himax HM01B0 Camera", src/hm01b0_arduino.h,
// v0.0.3): the class, members and status codes a compress camera sketch uses, with the library's frame size.
// capture() copies the next of the frames compiled in from camera_frames.h (test images, see camera_shim.cc).
#ifndef COMPRESS_HM01B0_SHIM_H_
#define COMPRESS_HM01B0_SHIM_H_

#include <stddef.h>
#include <stdint.h>

#include "Arduino.h"

#define HM01B0_PIXEL_X_NUM (324)
#define HM01B0_PIXEL_Y_NUM (244)

typedef enum { HM01B0_ERR_OK = 0x00, HM01B0_ERR } hm01b0_status_e;

class HM01B0 {
 public:
  hm01b0_status_e status = HM01B0_ERR_OK;
  static const size_t frameBufferSize = ((size_t)HM01B0_PIXEL_X_NUM * (size_t)HM01B0_PIXEL_Y_NUM);
  uint8_t frameBuffer[frameBufferSize] = {0};

  hm01b0_status_e begin(void);
  hm01b0_status_e calibrateAutoExposure(void);
  hm01b0_status_e capture(void);
  hm01b0_status_e end(void);
};

#endif  // COMPRESS_HM01B0_SHIM_H_

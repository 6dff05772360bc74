// Instruction counter for a QEMU MPS2 machine run with `-icount shift=0`.
//
// QEMU models no cycle counter (DWT CYCCNT reads 0). With -icount shift=0 every executed instruction advances
// the virtual clock by exactly 1 ns, and the board's CMSDK APB timer0 counts down at its APB clock: on mps2-an386
// (at 0x40000000, 25 MHz) one timer tick is 40 instructions. compress.devices.cores gives each machine's address
// and ratio (COMPRESS_TIMER_BASE, COMPRESS_INSTRUCTIONS_PER_TICK). The 32-bit counter wraps after 2^32 ticks (171 G
// instructions); elapsed ticks are computed modulo 2^32.
#ifndef COMPRESS_RUNNER_TIMER_H_
#define COMPRESS_RUNNER_TIMER_H_

#include <stdint.h>

namespace compress_timer {

#ifndef COMPRESS_TIMER_BASE
#define COMPRESS_TIMER_BASE 0x40000000u
#endif
#ifndef COMPRESS_INSTRUCTIONS_PER_TICK
#define COMPRESS_INSTRUCTIONS_PER_TICK 40
#endif

constexpr uint32_t kInstructionsPerTick = COMPRESS_INSTRUCTIONS_PER_TICK;  // 1 ns per instruction / timer period

struct CmsdkTimer {
  volatile uint32_t ctrl;
  volatile uint32_t value;
  volatile uint32_t reload;
  volatile uint32_t intstatus;
};

inline CmsdkTimer* timer0() { return reinterpret_cast<CmsdkTimer*>(COMPRESS_TIMER_BASE); }

inline void Start() {
  timer0()->ctrl = 0;
  timer0()->reload = 0xFFFFFFFFu;
  timer0()->value = 0xFFFFFFFFu;
  timer0()->ctrl = 1;  // enable, no interrupt
}

// A down-counter: ticks elapsed since Start() are 0xFFFFFFFF - value (mod 2^32).
inline uint32_t Ticks() { return 0xFFFFFFFFu - timer0()->value; }

inline uint64_t Instructions(uint32_t from_ticks, uint32_t to_ticks) {
  return static_cast<uint64_t>(to_ticks - from_ticks) * kInstructionsPerTick;
}

}  // namespace compress_timer

#endif  // COMPRESS_RUNNER_TIMER_H_

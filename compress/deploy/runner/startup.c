/* Bare-metal start-up for QEMU's mps2-an386 (Cortex-M4F): vector table, reset handler, fault handler.

   The reset handler enables the FPU (the code is built hard-float), copies .data, clears .bss, runs the C++
   constructors, opens newlib's semihosting streams (rdimon: printf and fopen reach the host), calls main and
   exits QEMU with main's status. A fault prints one line to the host and exits with status 3, so that a crash is
   an error message, not a hang. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

extern uint32_t __etext, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top;
extern int main(void);
extern void __libc_init_array(void);
extern void initialise_monitor_handles(void);

/* -nostartfiles leaves these out; newlib's __libc_init_array and the C++ runtime refer to them. */
void _init(void) {}
void _fini(void) {}
void *__dso_handle = 0;

#define SEMIHOSTING_SYS_WRITE0 0x04
#define SEMIHOSTING_SYS_EXIT 0x18
#define ADP_STOPPED_RUN_TIME_ERROR 0x20023

static int semihosting(int op, const void *arg) {
  register int r0 __asm__("r0") = op;
  register const void *r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void Fault_Handler(void) {
  semihosting(SEMIHOSTING_SYS_WRITE0, "compress-runner: fault: the program crashed (HardFault)\n");
  semihosting(SEMIHOSTING_SYS_EXIT, (const void *)ADP_STOPPED_RUN_TIME_ERROR);
  for (;;) {
  }
}

void Reset_Handler(void) {
  /* CPACR: full access to coprocessors 10 and 11 (the FPU), before any floating-point instruction */
  *(volatile uint32_t *)0xE000ED88 |= (0xFu << 20);
  __asm__ volatile("dsb\n\tisb" ::: "memory");
  memcpy(&__data_start__, &__etext, (size_t)((char *)&__data_end__ - (char *)&__data_start__));
  memset(&__bss_start__, 0, (size_t)((char *)&__bss_end__ - (char *)&__bss_start__));
  initialise_monitor_handles();
  __libc_init_array();
  exit(main());
}

typedef void (*Handler)(void);

__attribute__((section(".vectors"), used)) const Handler vector_table[16 + 32] = {
    (Handler)&__stack_top, Reset_Handler, Fault_Handler /* NMI */, Fault_Handler /* HardFault */,
    Fault_Handler /* MemManage */, Fault_Handler /* BusFault */, Fault_Handler /* UsageFault */, 0, 0, 0, 0,
    Fault_Handler /* SVC */, Fault_Handler /* DebugMon */, 0, Fault_Handler /* PendSV */,
    Fault_Handler /* SysTick */,
    [16 ... 47] = Fault_Handler /* no interrupt is enabled: any IRQ is a bug */};

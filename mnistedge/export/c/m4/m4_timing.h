/* Measuring a program under QEMU's mps2-an386: instructions executed across a region, via
 * SysTick, and the deepest stack use since reset. startup.c provides the SysTick handler and
 * the stack paint these read.
 *
 * The Cortex-M4's DWT cycle counter is not emulated by QEMU, so the count comes from SysTick.
 * Run under `-icount shift=0` QEMU's virtual clock advances 1 ns per guest instruction, and
 * SysTick on the processor clock (the AN386's 25 MHz) ticks every 40 ns: one tick is 40
 * instructions. Measured (tests/test_c_qemu.py): a loop of 10 instructions an iteration reads
 * 9,999,960 for 1,000,000 iterations and 999,999,960 for 100,000,000 (past a SysTick wrap), one
 * tick short of 10 per iteration. That is an instruction count, not a cycle count: QEMU gives
 * every instruction the same time, where a real M4 takes 1 cycle for most, more for loads,
 * taken branches, divides and MACs. Resolution is one tick (40 instructions).
 *
 *     m4_timer_start();
 *     ... region ...
 *     uint64_t instructions = m4_instructions_since_start();
 */
#ifndef M4_TIMING_H
#define M4_TIMING_H

#include <stddef.h>
#include <stdint.h>

/* Guest instructions per SysTick tick under -icount shift=0 (1 ns each) at the 25 MHz clock. */
#define M4_INSTRUCTIONS_PER_TICK 40u

#define M4_SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define M4_SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define M4_SYST_CVR (*(volatile uint32_t *)0xE000E018u)
#define M4_SYST_MAX_RELOAD 0x00FFFFFFu /* 24 bits: one wrap is ~671M instructions */

/* Incremented by startup.c's SysTick_Handler at every wrap, so regions may outlast one. */
extern volatile uint32_t m4_systick_wraps;

/* Bytes of stack used at the deepest point since reset, or since the last m4_stack_repaint()
 * (startup.c paints the stack). */
size_t m4_stack_high_water(void);

/* Bytes of stack in use right now (top of stack minus sp). */
size_t m4_stack_in_use(void);

/* Paints the unused stack again (below the caller's frame, less 64 bytes of margin), so that
 * m4_stack_high_water() - m4_stack_in_use() after a call measures that call's stack alone:
 *     size_t base = m4_stack_in_use(); m4_stack_repaint(); f(); size_t f_stack = m4_stack_high_water() - base;
 */
void m4_stack_repaint(void);

/* Restarts SysTick from its full count: processor clock, interrupt on wrap, enabled. */
static inline void m4_timer_start(void) {
    M4_SYST_CSR = 0;
    M4_SYST_RVR = M4_SYST_MAX_RELOAD;
    M4_SYST_CVR = 0; /* any write clears it; the next tick reloads from RVR */
    m4_systick_wraps = 0;
    M4_SYST_CSR = (1u << 2) | (1u << 1) | 1u; /* CLKSOURCE=cpu, TICKINT, ENABLE */
}

/* SysTick ticks since m4_timer_start(). Reading the wrap count on both sides of the counter
 * retries when a wrap lands between the two reads. */
static inline uint64_t m4_ticks_since_start(void) {
    uint32_t wraps;
    uint32_t count;
    do {
        wraps = m4_systick_wraps;
        count = M4_SYST_CVR;
    } while (wraps != m4_systick_wraps);
    return (uint64_t)wraps * (M4_SYST_MAX_RELOAD + 1u) + (M4_SYST_MAX_RELOAD - count);
}

/* Guest instructions executed since m4_timer_start(), to one tick (40 instructions). */
static inline uint64_t m4_instructions_since_start(void) {
    return m4_ticks_since_start() * M4_INSTRUCTIONS_PER_TICK;
}

#endif /* M4_TIMING_H */

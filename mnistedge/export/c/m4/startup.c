/* Startup for a Cortex-M4 (QEMU's mps2-an386): the vector table, the reset handler, and the two
 * run-time measurements m4_timing.h reads (SysTick wraps and the stack's deepest use).
 *
 * The reset handler does what the hardware and crt0 do not: it enables the FPU (the build uses
 * -mfloat-abi=hard, so the first float instruction would otherwise fault), copies .data from
 * flash to RAM, zeroes .bss and paints the stack. Then it does newlib's crt0's part itself:
 * opens semihosted stdio, reads argv from the host, runs the constructors, calls main and passes
 * main's return value to exit(), which QEMU makes its own exit status.
 *
 * Why not jump to rdimon-crt0's _start: it asks the host for a stack (SYS_HEAPINFO), and QEMU
 * answers with the top of the board's 16 MB PSRAM, so main would run on a stack outside the
 * one link.ld reserves, and the stack paint (and any stack-size figure) would be meaningless.
 */
#include <stddef.h>
#include <stdint.h>

#include "m4_timing.h"

extern uint32_t __data_load__, __data_start__, __data_end__;
extern uint32_t __bss_start__, __bss_end__;
extern uint32_t __stack_limit__, __stack_top__;

extern uint32_t __heap_limit; /* librdimon's _sbrk refuses to grow the heap past it */

extern int main(int argc, char **argv);
extern void initialise_monitor_handles(void);
extern void __libc_init_array(void);
extern void __libc_fini_array(void);
extern int atexit(void (*function)(void));
extern void exit(int status) __attribute__((noreturn));
extern void _exit(int status) __attribute__((noreturn));

void Reset_Handler(void) __attribute__((noreturn));
void Fault_Handler(void) __attribute__((noreturn));
void SysTick_Handler(void);

/* Written into every unused stack word, so the first word that differs marks the deepest use. */
#define STACK_PAINT 0xC0FFEE5Au

#define SCB_CPACR (*(volatile uint32_t *)0xE000ED88u)
#define SCB_ICSR (*(volatile uint32_t *)0xE000ED04u)

#define SYS_GET_CMDLINE 0x15u
#define MAX_ARGS 16 /* qemu.py checks both limits before a run */
#define MAX_CMDLINE 1024

volatile uint32_t m4_systick_wraps;

void SysTick_Handler(void) { m4_systick_wraps++; }

/* A fault would otherwise hang until the host's timeout; exiting with 128 + the exception
 * number (131 HardFault, 132 MemManage, 133 BusFault, 134 UsageFault) says which one, the way
 * a shell reports a signal. */
void Fault_Handler(void) { _exit(128 + (int)(SCB_ICSR & 0x1FFu)); }

size_t m4_stack_high_water(void) {
    const uint32_t *word = &__stack_limit__;
    while (word < &__stack_top__ && *word == STACK_PAINT) {
        word++;
    }
    return (size_t)((const uint8_t *)&__stack_top__ - (const uint8_t *)word);
}

size_t m4_stack_in_use(void) {
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    return (size_t)((uint32_t)&__stack_top__ - sp);
}

void m4_stack_repaint(void) {
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *word = &__stack_limit__; (uint32_t)word < sp - 64u;) {
        *word++ = STACK_PAINT;
    }
}

/* One Arm semihosting call: QEMU traps BKPT 0xAB and answers in r0. */
static int semihost(uint32_t operation, void *argument) {
    register uint32_t r0 __asm("r0") = operation;
    register void *r1 __asm("r1") = argument;
    __asm volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
    return (int)r0;
}

/* The host's command line (QEMU's -semihosting-config arg=...), split at spaces like crt0 does:
 * arguments cannot contain spaces. */
static int read_argv(char **argv) {
    static char cmdline[MAX_CMDLINE];
    struct {
        char *buffer;
        uint32_t length;
    } block = {cmdline, sizeof cmdline};
    if (semihost(SYS_GET_CMDLINE, &block) != 0) {
        argv[0] = 0;
        return 0;
    }
    int argc = 0;
    char *c = cmdline;
    while (*c != '\0' && argc < MAX_ARGS) {
        while (*c == ' ') {
            *c++ = '\0';
        }
        if (*c == '\0') {
            break;
        }
        argv[argc++] = c;
        while (*c != '\0' && *c != ' ') {
            c++;
        }
    }
    argv[argc] = 0;
    return argc;
}

void Reset_Handler(void) {
    /* CP10 and CP11 full access; the barriers make the next instruction see the FPU on. */
    SCB_CPACR |= 0xFu << 20;
    __asm volatile("dsb\n\tisb" ::: "memory");

    const uint32_t *from = &__data_load__;
    for (uint32_t *to = &__data_start__; to < &__data_end__;) {
        *to++ = *from++;
    }
    for (uint32_t *to = &__bss_start__; to < &__bss_end__;) {
        *to++ = 0;
    }

    /* Paint up to a little below this frame: the words above are in use right now. */
    uint32_t sp;
    __asm volatile("mov %0, sp" : "=r"(sp));
    for (uint32_t *word = &__stack_limit__; (uint32_t)word < sp - 64u;) {
        *word++ = STACK_PAINT;
    }

    __heap_limit = (uint32_t)&__stack_limit__;
    initialise_monitor_handles();
    static char *argv[MAX_ARGS + 1];
    int argc = read_argv(argv);
    atexit(__libc_fini_array);
    __libc_init_array();
    exit(main(argc, argv));
}

typedef void (*Vector)(void);

/* The first 16 entries of the Cortex-M4's vector table; the AN386's peripheral interrupts are
 * not used, so the table stops at SysTick. */
__attribute__((section(".isr_vector"), used)) static const Vector vector_table[16] = {
    (Vector)(uintptr_t)&__stack_top__, /* initial main stack pointer */
    Reset_Handler,
    Fault_Handler, /* NMI */
    Fault_Handler, /* HardFault */
    Fault_Handler, /* MemManage */
    Fault_Handler, /* BusFault */
    Fault_Handler, /* UsageFault */
    0,
    0,
    0,
    0,
    Fault_Handler, /* SVCall */
    Fault_Handler, /* DebugMonitor */
    0,
    Fault_Handler, /* PendSV */
    SysTick_Handler,
};

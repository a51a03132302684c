/* kernels/cuda/emu/emu_fiber.h — one stack and a context switch per CUDA thread.
 *
 * A hand-rolled switch (callee-saved registers, mxcsr and the x87 control
 * word) rather than swapcontext: swapcontext makes a signal-mask system call
 * per switch, and the emulator switches at every barrier and warp operation
 * of every thread. x86-64 only; elsewhere the emulator reports itself
 * unavailable. Under AddressSanitizer every switch is announced to it. */
#ifndef KILN_CUDA_EMU_FIBER_H
#define KILN_CUDA_EMU_FIBER_H

#include <stddef.h>

typedef struct kiln_fiber {
    void *sp;               /* saved stack pointer while switched out */
    unsigned char *stack;   /* mmap'd, lowest page a guard */
    size_t stack_size;
    void *asan_fake;        /* AddressSanitizer's fake-stack handle */
} kiln_fiber;

/* 1 where fibers work (x86-64), else 0. */
int kiln_fiber_supported(void);
/* Give f a stack (once; reused by later launches). 0 or -1. */
int kiln_fiber_alloc(kiln_fiber *f);
void kiln_fiber_free(kiln_fiber *f);
/* Make f start at entry() when next switched to. */
void kiln_fiber_reset(kiln_fiber *f, void (*entry)(void));
/* From the scheduler (whose state is *sched) into f, and back. */
void kiln_fiber_enter(kiln_fiber *sched, kiln_fiber *f);
void kiln_fiber_leave(kiln_fiber *f, kiln_fiber *sched, int for_good);
/* First thing a fiber's entry does (AddressSanitizer's bookkeeping). */
void kiln_fiber_started(kiln_fiber *f, kiln_fiber *sched);

#endif

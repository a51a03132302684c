/* kernels/cuda/emu/emu_fiber.c — stacks and the context switch (see emu_fiber.h). */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernels/cuda/emu/emu_fiber.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#define FIBER_STACK (1024 * 1024) /* ASan's redzones and fake frames */
#else
#define FIBER_STACK (128 * 1024)
#endif

#if defined(__x86_64__)
/* void kiln_fiber_switch(void **save_sp, void *to_sp): push the callee-saved
 * registers and the FP control state, swap stacks, pop the other side's. */
void kiln_fiber_switch(void **save_sp, void *to_sp);
__asm__(".text\n"
        ".globl kiln_fiber_switch\n"
        ".hidden kiln_fiber_switch\n"
        ".type kiln_fiber_switch,@function\n"
        "kiln_fiber_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size kiln_fiber_switch, .-kiln_fiber_switch\n");
int kiln_fiber_supported(void) { return 1; }
#else
static void kiln_fiber_switch(void **save_sp, void *to_sp)
{
    (void)save_sp;
    (void)to_sp;
}
int kiln_fiber_supported(void) { return 0; }
#endif

int kiln_fiber_alloc(kiln_fiber *f)
{
    if (f->stack) return 0;
    const size_t page = (size_t)sysconf(_SC_PAGESIZE);
    void *p = mmap(NULL, FIBER_STACK, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) return -1;
    /* A stack overflow faults on the guard page instead of corrupting a neighbour. */
    mprotect(p, page, PROT_NONE);
    f->stack = p;
    f->stack_size = FIBER_STACK;
    return 0;
}

void kiln_fiber_free(kiln_fiber *f)
{
    if (f->stack) munmap(f->stack, f->stack_size);
    memset(f, 0, sizeof *f);
}

void kiln_fiber_reset(kiln_fiber *f, void (*entry)(void))
{
    /* The frame kiln_fiber_switch pops: [fp control][r15 r14 r13 r12 rbx rbp][return
     * address = entry], placed so that entry starts with the stack as after a call
     * (rsp + 8 a multiple of 16). */
    uintptr_t top = ((uintptr_t)(f->stack + f->stack_size)) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 16 - 7 * 8);
    memset(sp, 0, 8 * 8);
    const uint32_t mxcsr = 0x1f80; /* round to nearest, exceptions masked */
    const uint16_t fpucw = 0x037f;
    memcpy(&sp[0], &mxcsr, 4);
    memcpy((char *)&sp[0] + 4, &fpucw, 2);
    sp[7] = (uint64_t)(uintptr_t)entry;
    f->sp = sp;
}

void kiln_fiber_enter(kiln_fiber *sched, kiln_fiber *f)
{
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_start_switch_fiber(&sched->asan_fake, f->stack, f->stack_size);
#endif
    kiln_fiber_switch(&sched->sp, f->sp);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_finish_switch_fiber(sched->asan_fake, NULL, NULL);
#endif
}

void kiln_fiber_leave(kiln_fiber *f, kiln_fiber *sched, int for_good)
{
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_start_switch_fiber(for_good ? NULL : &f->asan_fake, sched->stack, sched->stack_size);
#else
    (void)for_good;
#endif
    kiln_fiber_switch(&f->sp, sched->sp);
#if defined(__SANITIZE_ADDRESS__)
    __sanitizer_finish_switch_fiber(f->asan_fake, NULL, NULL);
#endif
}

void kiln_fiber_started(kiln_fiber *f, kiln_fiber *sched)
{
#if defined(__SANITIZE_ADDRESS__)
    const void *bottom = NULL;
    size_t size = 0;
    __sanitizer_finish_switch_fiber(NULL, &bottom, &size);
    /* The scheduler runs on the launching thread's stack: remember its bounds
     * so switches back can be announced. */
    sched->stack = (unsigned char *)bottom;
    sched->stack_size = size;
#else
    (void)sched;
#endif
    (void)f;
}

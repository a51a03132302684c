/* kernels/cuda/emu/emu_profile.c — what a profiler would count for the memory
 * traffic through the wrappers of cuda_arch.cuh (include/kiln/cuda_emu.h).
 *
 * Thread-level accesses (16-byte loads and stores, cp.async) are logged with
 * their call site and the thread's pass count at that site; at the end of a
 * block the n-th passes of one site by the lanes of one warp form one warp
 * instruction, as on the GPU for code the warp runs converged. Shared memory:
 * the hardware serves a request in phases (32-bit accesses: one phase of 32
 * lanes; 64-bit: two of 16; 128-bit: four of 8; ldmatrix: one per 8x8
 * matrix); within a phase, distinct 4-byte words in the same bank (address / 4
 * mod 32) take one wavefront each, equal words are broadcast. Global memory:
 * the distinct 32-byte sectors a request touches. Called with the scheduler's
 * lock held (one launch at a time); the counters have their own lock. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "kernels/cuda/emu/emu.h"

#define MAX_KERNELS 256

typedef struct access_rec {
    int warp, lane;
    uintptr_t site;
    uint64_t occurrence;
    uintptr_t addr;
    unsigned bytes;
    int stream;
} access_rec;

static struct {
    pthread_mutex_t lock;
    int on;
    kiln_cuda_emu_counters k[MAX_KERNELS];
    int nk, cur;
    access_rec *log;
    size_t n, cap;
    int log_full;
} P = {.lock = PTHREAD_MUTEX_INITIALIZER, .cur = -1};

int kiln_emu_profile_on(void) { return __atomic_load_n(&P.on, __ATOMIC_RELAXED); }

void kiln_cuda_emu_profile(int on)
{
    pthread_mutex_lock(&P.lock);
    if (on) {
        P.nk = 0;
        P.cur = -1;
        P.n = 0;
    }
    __atomic_store_n(&P.on, on ? 1 : 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&P.lock);
}

int kiln_cuda_emu_profile_count(void)
{
    pthread_mutex_lock(&P.lock);
    int n = P.nk;
    pthread_mutex_unlock(&P.lock);
    return n;
}

kiln_status kiln_cuda_emu_profile_get(int i, kiln_cuda_emu_counters *out)
{
    if (!out) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_cuda_emu_profile_get: out is NULL");
    pthread_mutex_lock(&P.lock);
    kiln_status st = KILN_OK;
    if (i < 0 || i >= P.nk) st = kiln_fail(KILN_ERR_INVALID_ARG, "kiln_cuda_emu_profile_get: no kernel %d (%d counted)", i, P.nk);
    else *out = P.k[i];
    pthread_mutex_unlock(&P.lock);
    return st;
}

void kiln_emu_profile_launch(const char *kernel)
{
    pthread_mutex_lock(&P.lock);
    int i = 0;
    while (i < P.nk && strcmp(P.k[i].kernel, kernel) != 0) i++;
    if (i == P.nk && P.nk < MAX_KERNELS) {
        memset(&P.k[i], 0, sizeof P.k[i]);
        snprintf(P.k[i].kernel, sizeof P.k[i].kernel, "%s", kernel);
        P.nk++;
    }
    P.cur = i < P.nk ? i : -1;
    if (P.cur >= 0) P.k[P.cur].launches++;
    P.n = 0;
    P.log_full = 0;
    pthread_mutex_unlock(&P.lock);
}

void kiln_emu_profile_access(int warp, int lane, uintptr_t site, uint64_t occurrence, const void *p, unsigned bytes,
                             int stream)
{
    if (P.n == P.cap) {
        size_t cap = P.cap ? 2 * P.cap : 4096;
        access_rec *r = realloc(P.log, cap * sizeof *r);
        if (!r) {
            P.log_full = 1; /* counted as far as memory allows */
            return;
        }
        P.log = r;
        P.cap = cap;
    }
    P.log[P.n++] = (access_rec){warp, lane, site, occurrence, (uintptr_t)p, bytes, stream};
}

/* Wavefronts of one phase: the most distinct words any bank must serve. */
static unsigned phase_wavefronts(const uintptr_t *addr, const unsigned *bytes, int n)
{
    uintptr_t words[32 * 4];
    int nw = 0;
    for (int i = 0; i < n; i++)
        for (uintptr_t w = addr[i] / 4; w <= (addr[i] + bytes[i] - 1) / 4 && nw < 128; w++) {
            int seen = 0;
            for (int j = 0; j < nw && !seen; j++) seen = words[j] == w;
            if (!seen) words[nw++] = w;
        }
    unsigned per_bank[32] = {0}, most = 0;
    for (int j = 0; j < nw; j++) {
        unsigned c = ++per_bank[words[j] % 32];
        if (c > most) most = c;
    }
    return most;
}

void kiln_emu_profile_ldmatrix(const uint64_t *rows, int count)
{
    pthread_mutex_lock(&P.lock);
    if (P.cur >= 0) {
        kiln_cuda_emu_counters *k = &P.k[P.cur];
        k->ldmatrix++;
        k->shared_requests++;
        for (int m = 0; m < count / 8; m++) {
            uintptr_t a[8];
            unsigned b[8];
            for (int i = 0; i < 8; i++) a[i] = (uintptr_t)rows[8 * m + i], b[i] = 16;
            unsigned wf = phase_wavefronts(a, b, 8);
            k->shared_wavefronts += wf;
            k->bank_conflicts += wf - 1;
        }
    }
    pthread_mutex_unlock(&P.lock);
}

void kiln_emu_profile_cp_async(void)
{
    pthread_mutex_lock(&P.lock);
    if (P.cur >= 0) P.k[P.cur].cp_async++;
    pthread_mutex_unlock(&P.lock);
}

static int by_instruction(const void *pa, const void *pb)
{
    const access_rec *a = pa, *b = pb;
    if (a->warp != b->warp) return a->warp < b->warp ? -1 : 1;
    if (a->site != b->site) return a->site < b->site ? -1 : 1;
    if (a->occurrence != b->occurrence) return a->occurrence < b->occurrence ? -1 : 1;
    return a->lane - b->lane;
}

static int is_shared(const kiln_emu_module_info *m, uintptr_t a)
{
    const uintptr_t s0 = (uintptr_t)m->static_smem, d0 = (uintptr_t)m->dynamic_smem;
    return (a >= s0 && a < s0 + m->static_smem_bytes) || (a >= d0 && a < d0 + KILN_EMU_DYN_SMEM_MAX);
}

/* One warp instruction: recs[0..n), sorted by lane. */
static void count_instruction(kiln_cuda_emu_counters *k, const kiln_emu_module_info *m, const access_rec *recs, int n)
{
    if (is_shared(m, recs[0].addr)) {
        const unsigned width = recs[0].bytes;
        const int phase = width >= 16 ? 8 : width >= 8 ? 16 : 32;
        k->shared_requests++;
        for (int p0 = 0; p0 < 32; p0 += phase) {
            uintptr_t a[32];
            unsigned b[32];
            int c = 0;
            for (int i = 0; i < n; i++)
                if (recs[i].lane >= p0 && recs[i].lane < p0 + phase) a[c] = recs[i].addr, b[c++] = recs[i].bytes;
            if (!c) continue;
            unsigned wf = phase_wavefronts(a, b, c);
            k->shared_wavefronts += wf;
            k->bank_conflicts += wf - 1;
        }
        return;
    }
    uintptr_t sectors[32 * 8];
    int ns = 0;
    k->global_requests++;
    for (int i = 0; i < n; i++) {
        k->global_bytes += recs[i].bytes;
        for (uintptr_t s = recs[i].addr / 32; s <= (recs[i].addr + recs[i].bytes - 1) / 32 && ns < 256; s++) {
            int seen = 0;
            for (int j = 0; j < ns && !seen; j++) seen = sectors[j] == s;
            if (!seen) sectors[ns++] = s;
        }
    }
    k->global_sectors += (uint64_t)ns;
    if (recs[0].stream) {
        k->stream_requests++;
        k->stream_sectors += (uint64_t)ns;
        for (int i = 0; i < n; i++) k->stream_bytes += recs[i].bytes;
    }
}

void kiln_emu_profile_block_end(const char *kernel, const kiln_emu_module_info *mem)
{
    (void)kernel;
    pthread_mutex_lock(&P.lock);
    if (P.cur >= 0) {
        kiln_cuda_emu_counters *k = &P.k[P.cur];
        k->blocks++;
        if (P.n) qsort(P.log, P.n, sizeof *P.log, by_instruction);
        for (size_t i = 0; i < P.n;) {
            size_t j = i + 1;
            while (j < P.n && P.log[j].warp == P.log[i].warp && P.log[j].site == P.log[i].site &&
                   P.log[j].occurrence == P.log[i].occurrence && j - i < 32)
                j++;
            count_instruction(k, mem, &P.log[i], (int)(j - i));
            i = j;
        }
    }
    P.n = 0;
    pthread_mutex_unlock(&P.lock);
}

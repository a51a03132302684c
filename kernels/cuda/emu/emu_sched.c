/* kernels/cuda/emu/emu_sched.c — one emulated launch.
 *
 * Blocks run one at a time, each CUDA thread on its own fiber. Between two
 * barriers (an epoch) the warps run in a shuffled order (seeded: the same
 * seed gives the same interleaving), and a warp runs until every lane waits
 * at a barrier, has exited, or waits at a warp operation that cannot complete
 * yet; so a warp runs as far ahead of the others as a missing __syncthreads
 * lets it. A warp operation (shuffle, __syncwarp, mma, ldmatrix) is a
 * rendezvous of its lanes over their deposited registers.
 *
 * The checks, each a launch error with a message (never an abort):
 *  - shared memory (static and dynamic) is poisoned with 0xff bytes (NaN in
 *    f32, f16 and bf16) at the start of every block, so a read of a word no
 *    one wrote in this block sees NaN;
 *  - within a phase (between two barriers) a warp does not see what other
 *    warps wrote in the same phase: each warp starts its turn from the shared
 *    memory of the phase's start, with the bytes earlier warps wrote poisoned;
 *    at the barrier every warp's writes land (bytes two warps wrote with
 *    different values stay poisoned). A read that only a barrier could order
 *    after another warp's write (a missing __syncthreads before the reads, or
 *    after them when the next tile overwrites) sees NaN; a value written in
 *    an earlier phase reads as written, however many barriers later
 *    (docs/CUDA.md, "Shared memory between barriers");
 *  - a barrier reached by only some threads, a warp operation whose mask
 *    names lanes that do not exist or have exited, lanes meeting at different
 *    warp operations: reported with the threads involved;
 *  - the dynamic shared memory past the launch's request is poisoned too
 *    (and under AddressSanitizer made unreadable); a write there is reported;
 *  - cp.async destinations are poisoned at issue and the copies land at
 *    wait_group time; copies never waited for are reported;
 *  - the wrappers' alignment checks end up in rt.fail.
 * Launches are serialized by one lock: the runtime's state is global. */
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/cuda/emu/emu.h"
#include "kernels/cuda/emu/emu_fiber.h"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#endif

#define MAX_THREADS 1024
#define POISON 0xff

typedef enum fstate { F_RUN, F_BAR, F_WARP, F_DONE } fstate;

typedef struct pending_copy {
    void *dst;
    const void *src;
    unsigned bytes;
    int group;
} pending_copy;

/* Per thread: how often it passed each access site, so the lanes' n-th
 * passes of one site make one warp instruction for the profiler. */
#define SITE_SLOTS 64
typedef struct site_count {
    uintptr_t site;
    unsigned count;
} site_count;

typedef struct emu_thread {
    kiln_fiber fiber;
    fstate st;
    kiln_emu_thread idx;
    int warp, lane;
    kiln_emu_warp_op op;
    unsigned mask;
    uint32_t in[KILN_EMU_XCHG_WORDS];
    pending_copy *copies;
    int ncopies, copies_cap;
    int groups; /* cp.async groups committed */
    unsigned syncs; /* barriers and warp operations passed: lanes that skipped an access realign at each */
    site_count sites[SITE_SLOTS];
} emu_thread;

typedef struct emu_warp {
    uint32_t snap[32][KILN_EMU_XCHG_WORDS];
    int lanes; /* threads of the block in this warp */
} emu_warp;

/* The phase's view of shared memory: segment 0 the static section, 1 the
 * dynamic memory up to the launch's request (past it the footprint check
 * needs the poison as it is). */
#define WRITER_NONE (-1)
#define WRITER_RACE (-2)
typedef struct phase_view {
    unsigned char *mem[2];
    size_t len[2], cap;
    unsigned char *base;   /* shared memory at the phase's start */
    unsigned char *view;   /* what the next warp starts from: base, with the phase's writes poisoned */
    unsigned char *final;  /* the phase's writes, landed at the barrier */
    int16_t *writer;       /* the warp that wrote each byte this phase, or WRITER_* */
} phase_view;

static struct {
    pthread_mutex_t lock;
    phase_view pv;
    emu_thread *t;
    int nt_alloc;
    emu_warp w[MAX_THREADS / 32];
    kiln_fiber sched;
    emu_thread *cur;
    kiln_emu_thread *current; /* rt.current points here */
    const kiln_emu_launch *l;
    int failed;
    char err[1024];
    uint64_t rng;
} S = {.lock = PTHREAD_MUTEX_INITIALIZER};

/* ---------------------------------------------------------------- errors */

static void fault(const char *fmt, ...)
{
    if (S.failed) return;
    S.failed = 1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(S.err, sizeof S.err, fmt, ap);
    va_end(ap);
}

static const char *op_name(kiln_emu_warp_op op)
{
    switch (op) {
    case KILN_EMU_OP_SYNCWARP: return "__syncwarp";
    case KILN_EMU_OP_SHFL: return "__shfl_sync";
    case KILN_EMU_OP_MMA_F16: return "mma.sync f16";
    case KILN_EMU_OP_MMA_BF16: return "mma.sync bf16";
    case KILN_EMU_OP_MMA_S8: return "mma.sync s8";
    case KILN_EMU_OP_LDMATRIX: return "ldmatrix";
    }
    return "warp operation";
}

/* ---------------------------------------------------------------- the runtime table */

static void yield(fstate st)
{
    emu_thread *t = S.cur;
    t->st = st;
    if (kiln_emu_profile_on() && st != F_DONE) {
        t->syncs++;
        memset(t->sites, 0, sizeof t->sites);
    }
    kiln_fiber_leave(&t->fiber, &S.sched, 0);
}

static void rt_sync_threads(void) { yield(F_BAR); }

static const uint32_t (*rt_warp_exchange(kiln_emu_warp_op op, unsigned mask, const uint32_t *in,
                                         int n))[KILN_EMU_XCHG_WORDS]
{
    emu_thread *t = S.cur;
    t->op = op;
    t->mask = mask;
    if (n > 0) memcpy(t->in, in, (size_t)n * 4);
    yield(F_WARP);
    return (const uint32_t(*)[KILN_EMU_XCHG_WORDS])S.w[t->warp].snap;
}

static void rt_fail(const char *message)
{
    const kiln_emu_thread *i = &S.cur->idx;
    fault("thread (%u,%u,%u) of block (%u,%u,%u): %s", i->thread_idx.x, i->thread_idx.y, i->thread_idx.z,
          i->block_idx.x, i->block_idx.y, i->block_idx.z, message);
    yield(F_DONE); /* never resumed: the launch ends */
}

static void rt_cp_async(void *dst, const void *src, unsigned bytes)
{
    emu_thread *t = S.cur;
    if (t->ncopies == t->copies_cap) {
        int cap = t->copies_cap ? 2 * t->copies_cap : 16;
        pending_copy *p = realloc(t->copies, (size_t)cap * sizeof *p);
        if (!p) rt_fail("cp.async: out of host memory for the copy queue");
        t->copies = p;
        t->copies_cap = cap;
    }
    t->copies[t->ncopies++] = (pending_copy){dst, src, bytes, t->groups};
    /* Until its wait the destination's bytes may be old or new on a GPU: poison
     * them now, so a read before the wait, or another warp's read of a stage a
     * faster warp already refills, sees NaN (a write of the phase). */
    memset(dst, POISON, bytes);
    if (kiln_emu_profile_on()) kiln_emu_profile_cp_async();
}

static void rt_cp_async_commit(void) { S.cur->groups++; }

/* Land the copies of every committed group but the newest `pending` ones. */
static void rt_cp_async_wait(int pending)
{
    emu_thread *t = S.cur;
    int keep = 0;
    for (int i = 0; i < t->ncopies; i++) {
        pending_copy *c = &t->copies[i];
        if (c->group < t->groups - pending) memcpy(c->dst, c->src, c->bytes);
        else t->copies[keep++] = *c;
    }
    t->ncopies = keep;
}

static unsigned site_occurrence(emu_thread *t, uintptr_t site)
{
    unsigned h = (unsigned)((site >> 2) * 2654435761u) % SITE_SLOTS;
    for (int i = 0; i < SITE_SLOTS; i++) {
        site_count *s = &t->sites[(h + (unsigned)i) % SITE_SLOTS];
        if (s->site == site) return s->count++;
        if (!s->site) {
            s->site = site;
            s->count = 1;
            return 0;
        }
    }
    return ~0u; /* more sites than slots: counted as one instruction */
}

__attribute__((noinline)) static void rt_access(const void *p, unsigned bytes, int stream)
{
    if (!kiln_emu_profile_on()) return;
    emu_thread *t = S.cur;
    const uintptr_t site = (uintptr_t)__builtin_return_address(0);
    const uint64_t instance = ((uint64_t)t->syncs << 32) | site_occurrence(t, site);
    kiln_emu_profile_access(t->warp, t->lane, site, instance, p, bytes, stream);
}

static void rt_access_ldmatrix(const uint64_t *rows, int count)
{
    if (kiln_emu_profile_on()) kiln_emu_profile_ldmatrix(rows, count);
}

static const kiln_emu_rt runtime = {
    .abi = KILN_EMU_ABI,
    .current = &S.current,
    .sync_threads = rt_sync_threads,
    .warp_exchange = rt_warp_exchange,
    .fail = rt_fail,
    .cp_async = rt_cp_async,
    .cp_async_commit = rt_cp_async_commit,
    .cp_async_wait = rt_cp_async_wait,
    .access = rt_access,
    .access_ldmatrix = rt_access_ldmatrix,
};

const kiln_emu_rt *kiln_emu_runtime(void) { return &runtime; }

/* ---------------------------------------------------------------- scheduling */

static void thread_main(void)
{
    emu_thread *t = S.cur;
    kiln_fiber_started(&t->fiber, &S.sched);
    S.l->fn(S.l->params);
    t->st = F_DONE;
    kiln_fiber_leave(&t->fiber, &S.sched, 1);
    __builtin_unreachable();
}

static void run_thread(emu_thread *t)
{
    S.cur = t;
    S.current = &t->idx;
    kiln_fiber_enter(&S.sched, &t->fiber);
}

static void describe(const emu_thread *t, char *buf, size_t cap)
{
    snprintf(buf, cap, "thread (%u,%u,%u) of block (%u,%u,%u)", t->idx.thread_idx.x, t->idx.thread_idx.y,
             t->idx.thread_idx.z, t->idx.block_idx.x, t->idx.block_idx.y, t->idx.block_idx.z);
}

/* The lanes of warp w that wait at a warp operation: release them when every
 * lane of the mask is there for the same operation. 1 if released, 0 if none
 * waits, -1 on a fault. */
static int release_warp(int w)
{
    emu_thread *lanes = &S.t[w * 32];
    emu_warp *wp = &S.w[w];
    const emu_thread *first = NULL;
    for (int l = 0; l < wp->lanes && !first; l++)
        if (lanes[l].st == F_WARP) first = &lanes[l];
    if (!first) return 0;
    char who[96];
    describe(first, who, sizeof who);
    for (int l = 0; l < 32; l++) {
        const int in_mask = (first->mask >> l) & 1u;
        if (l >= wp->lanes) {
            if (in_mask) {
                fault("%s: %s with mask 0x%08x names lane %d, which does not exist (the block has %u threads): "
                      "a warp operation with inactive lanes",
                      who, op_name(first->op), first->mask, l, S.l->block.x * S.l->block.y * S.l->block.z);
                return -1;
            }
            continue;
        }
        const emu_thread *o = &lanes[l];
        if (!in_mask) {
            if (o->st == F_WARP && o->mask != first->mask) {
                fault("%s: lanes of warp %d wait at warp operations with different masks (0x%08x, 0x%08x)", who, w,
                      first->mask, o->mask);
                return -1;
            }
            continue;
        }
        if (o->st == F_DONE) {
            fault("%s: %s with mask 0x%08x waits for lane %d, which has exited: a warp operation with inactive "
                  "lanes",
                  who, op_name(first->op), first->mask, l);
            return -1;
        }
        if (o->st == F_BAR) {
            fault("deadlock: %s waits at %s while lane %d of its warp waits at __syncthreads", who,
                  op_name(first->op), l);
            return -1;
        }
        if (o->op != first->op || o->mask != first->mask) {
            fault("%s: lanes of warp %d meet at different warp operations (%s and %s)", who, w, op_name(first->op),
                  op_name(o->op));
            return -1;
        }
    }
    for (int l = 0; l < wp->lanes; l++)
        if ((first->mask >> l) & 1u) {
            memcpy(wp->snap[l], lanes[l].in, sizeof wp->snap[l]);
            lanes[l].st = F_RUN;
        }
    return 1;
}

/* Run warp w until none of its lanes can move. 0, or -1 on a fault. */
static int run_warp(int w)
{
    emu_thread *lanes = &S.t[w * 32];
    for (;;) {
        for (int l = 0; l < S.w[w].lanes; l++) {
            if (lanes[l].st != F_RUN) continue;
            run_thread(&lanes[l]);
            if (S.failed) return -1;
        }
        int r = release_warp(w);
        if (r < 0) return -1;
        if (r == 0) return 0;
    }
}

static uint64_t next_random(void)
{
    /* splitmix64 */
    uint64_t z = (S.rng += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void poison_shared(unsigned request)
{
    const kiln_emu_module_info *m = S.l->memory;
    if (m->static_smem_bytes) memset(m->static_smem, POISON, m->static_smem_bytes);
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(m->dynamic_smem, KILN_EMU_DYN_SMEM_MAX);
#endif
    memset(m->dynamic_smem, POISON, KILN_EMU_DYN_SMEM_MAX);
#if defined(__SANITIZE_ADDRESS__)
    /* Past the request: a read is an AddressSanitizer report, not only NaN. */
    ASAN_POISON_MEMORY_REGION(m->dynamic_smem + request, KILN_EMU_DYN_SMEM_MAX - request);
#else
    (void)request;
#endif
}

/* ---------------------------------------------------------------- phases */

static int phase_alloc(void)
{
    phase_view *v = &S.pv;
    const kiln_emu_module_info *m = S.l->memory;
    v->mem[0] = m->static_smem, v->len[0] = m->static_smem_bytes;
    v->mem[1] = m->dynamic_smem, v->len[1] = S.l->dynamic_smem;
    const size_t n = v->len[0] + v->len[1];
    if (n <= v->cap) return 0;
    unsigned char *b = realloc(v->base, n), *w = b ? realloc(v->view, n) : NULL, *f = w ? realloc(v->final, n) : NULL;
    int16_t *wr = f ? realloc(v->writer, n * sizeof *wr) : NULL;
    if (b) v->base = b;
    if (w) v->view = w;
    if (f) v->final = f;
    if (wr) v->writer = wr;
    if (!wr) {
        fault("out of host memory for the shared-memory view (%zu bytes)", n);
        return -1;
    }
    v->cap = n;
    return 0;
}

/* (A kernel without shared memory has NULL segments of length 0: memcpy's
 * pointers must not be NULL even then, so empty segments are skipped.) */
static void phase_begin(void)
{
    phase_view *v = &S.pv;
    for (int s = 0, o = 0; s < 2; o += (int)v->len[s], s++)
        if (v->len[s]) memcpy(v->base + o, v->mem[s], v->len[s]);
    const size_t n = v->len[0] + v->len[1];
    if (n) memcpy(v->view, v->base, n);
    for (size_t i = 0; i < n; i++) v->writer[i] = WRITER_NONE;
}

/* After warp w's turn: note the bytes it wrote (those that differ from the
 * view it started from) and hide them from the warps that run after it. */
static void phase_collect(int w)
{
    phase_view *v = &S.pv;
    size_t o = 0;
    for (int s = 0; s < 2; o += v->len[s], s++) {
        if (!v->len[s]) continue;
        unsigned char *mem = v->mem[s], *view = v->view + o;
        const size_t n = v->len[s];
        for (size_t i = 0; i < n;) {
            if (i + 8 <= n) {
                uint64_t a, b;
                memcpy(&a, mem + i, 8);
                memcpy(&b, view + i, 8);
                if (a == b) {
                    i += 8;
                    continue;
                }
            }
            for (size_t e = i + 8 < n ? i + 8 : n; i < e; i++) {
                if (mem[i] == view[i]) continue;
                const size_t k = o + i;
                if (v->writer[k] == WRITER_NONE) {
                    v->writer[k] = (int16_t)w;
                    v->final[k] = mem[i];
                } else if (v->final[k] != mem[i]) { /* two warps, two values: a race */
                    v->writer[k] = WRITER_RACE;
                    v->final[k] = POISON;
                }
                mem[i] = view[i] = POISON;
            }
        }
    }
}

/* At the barrier: every warp's writes land. */
static void phase_end(void)
{
    phase_view *v = &S.pv;
    size_t o = 0;
    for (int s = 0; s < 2; o += v->len[s], s++)
        for (size_t i = 0; i < v->len[s]; i++)
            if (v->writer[o + i] != WRITER_NONE) v->mem[s][i] = v->final[o + i];
}

static int warp_can_run(int w)
{
    for (int l = 0; l < S.w[w].lanes; l++)
        if (S.t[w * 32 + l].st == F_RUN) return 1;
    return 0;
}

/* A write past the dynamic shared memory the launch asked for. */
static int check_shared_footprint(void)
{
    const kiln_emu_module_info *m = S.l->memory;
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(m->dynamic_smem, KILN_EMU_DYN_SMEM_MAX);
#endif
    for (size_t i = S.l->dynamic_smem; i < KILN_EMU_DYN_SMEM_MAX; i++)
        if (m->dynamic_smem[i] != POISON) {
            fault("%s wrote dynamic shared memory at byte %zu, past the launch's request of %u bytes", S.l->name, i,
                  S.l->dynamic_smem);
            return -1;
        }
    return 0;
}

static int run_block(kiln_emu_dim3 b, int nt, int nwarps)
{
    const kiln_emu_launch *l = S.l;
    S.rng ^= ((uint64_t)b.x * 0x100000001b3ull) ^ ((uint64_t)b.y << 21) ^ ((uint64_t)b.z << 42);
    for (int i = 0; i < nt; i++) {
        emu_thread *t = &S.t[i];
        t->st = F_RUN;
        t->idx.thread_idx.x = (unsigned)i % l->block.x;
        t->idx.thread_idx.y = ((unsigned)i / l->block.x) % l->block.y;
        t->idx.thread_idx.z = (unsigned)i / (l->block.x * l->block.y);
        t->idx.block_idx = b;
        t->idx.block_dim = l->block;
        t->idx.grid_dim = l->grid;
        t->warp = i / 32;
        t->lane = i % 32;
        t->ncopies = 0;
        t->groups = 0;
        t->syncs = 0;
        memset(t->sites, 0, sizeof t->sites);
        kiln_fiber_reset(&t->fiber, thread_main);
    }
    poison_shared(l->dynamic_smem);
    if (phase_alloc() < 0) return -1;
    int order[MAX_THREADS / 32];
    for (int w = 0; w < nwarps; w++) order[w] = w;
    for (;;) {
        for (int w = nwarps - 1; w > 0; w--) {
            int j = (int)(next_random() % (uint64_t)(w + 1)), x = order[w];
            order[w] = order[j];
            order[j] = x;
        }
        phase_begin();
        for (int i = 0; i < nwarps; i++) {
            if (!warp_can_run(order[i])) continue;
            if (run_warp(order[i]) < 0) return -1;
            phase_collect(order[i]);
        }
        phase_end();
        int bar = 0, done = 0, warp = -1;
        for (int i = 0; i < nt; i++) {
            if (S.t[i].st == F_BAR) bar++;
            else if (S.t[i].st == F_DONE) done++;
            else if (warp < 0) warp = i;
        }
        if (done == nt) break;
        if (warp >= 0 || (bar && done)) {
            /* Some thread can never move: name one that waits and one that does not. */
            int waiting = -1, other = -1;
            for (int i = 0; i < nt; i++) {
                if (S.t[i].st == F_BAR && waiting < 0) waiting = i;
                if (S.t[i].st != F_BAR && other < 0) other = i;
            }
            char a[96] = "", c[96] = "";
            if (waiting >= 0) describe(&S.t[waiting], a, sizeof a);
            if (other >= 0) describe(&S.t[other], c, sizeof c);
            if (warp >= 0) {
                describe(&S.t[warp], c, sizeof c);
                fault("deadlock in %s: %s waits at %s, which its warp cannot complete%s%s%s", l->name, c,
                      op_name(S.t[warp].op), waiting >= 0 ? ", while " : "", a,
                      waiting >= 0 ? " waits at __syncthreads" : "");
            }
            else
                fault("deadlock in %s: __syncthreads reached by %d of %d threads (%s waits; %s has exited)", l->name,
                      bar, nt, a, c);
            return -1;
        }
        for (int i = 0; i < nt; i++)
            if (S.t[i].st == F_BAR) S.t[i].st = F_RUN;
    }
    for (int i = 0; i < nt; i++)
        if (S.t[i].ncopies) {
            char who[96];
            describe(&S.t[i], who, sizeof who);
            fault("%s: %s exited with %d cp.async copies never waited for (cp.async.wait_group missing)", l->name, who,
                  S.t[i].ncopies);
            return -1;
        }
    if (check_shared_footprint() < 0) return -1;
    if (kiln_emu_profile_on()) kiln_emu_profile_block_end(l->name, l->memory);
    return 0;
}

/* KILN_CUDA_EMU_SEED: the warp order's seed (a decimal number); default 1. */
static int read_seed(uint64_t *seed)
{
    const char *s = getenv("KILN_CUDA_EMU_SEED");
    *seed = 1;
    if (!s || !*s) return 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end || s[0] == '-') {
        fault("KILN_CUDA_EMU_SEED='%s' is not a decimal number", s);
        return -1;
    }
    *seed = v;
    return 0;
}

int kiln_emu_run(const kiln_emu_launch *l, char *err, size_t cap)
{
    const long long nt = (long long)l->block.x * l->block.y * l->block.z;
    if (nt <= 0 || nt > MAX_THREADS) {
        snprintf(err, cap, "%s: a block of %lld threads (1..%d)", l->name, nt, MAX_THREADS);
        return -1;
    }
    if (l->dynamic_smem > KILN_EMU_DYN_SMEM_MAX) {
        snprintf(err, cap, "%s: %u bytes of dynamic shared memory, the emulated device has %d", l->name,
                 l->dynamic_smem, KILN_EMU_DYN_SMEM_MAX);
        return -1;
    }
    pthread_mutex_lock(&S.lock);
    S.failed = 0;
    S.err[0] = '\0';
    S.l = l;
    int rc = 0;
    if (S.nt_alloc < nt) {
        emu_thread *t = realloc(S.t, (size_t)nt * sizeof *t);
        if (!t) {
            fault("out of host memory for %lld threads", nt);
            rc = -1;
        } else {
            memset(t + S.nt_alloc, 0, (size_t)(nt - S.nt_alloc) * sizeof *t);
            S.t = t;
            S.nt_alloc = (int)nt;
        }
    }
    for (int i = 0; rc == 0 && i < nt; i++)
        if (kiln_fiber_alloc(&S.t[i].fiber) < 0) {
            fault("could not map a stack for thread %d", i);
            rc = -1;
        }
    uint64_t seed = 1;
    if (rc == 0) rc = read_seed(&seed);
    const int nwarps = (int)((nt + 31) / 32);
    for (int w = 0; w < nwarps; w++) S.w[w].lanes = (int)(nt - 32LL * w < 32 ? nt - 32LL * w : 32);
    if (rc == 0 && kiln_emu_profile_on()) kiln_emu_profile_launch(l->name);
    for (unsigned z = 0; rc == 0 && z < l->grid.z; z++)
        for (unsigned y = 0; rc == 0 && y < l->grid.y; y++)
            for (unsigned x = 0; rc == 0 && x < l->grid.x; x++) {
                S.rng = seed;
                rc = run_block((kiln_emu_dim3){x, y, z}, (int)nt, nwarps);
            }
#if defined(__SANITIZE_ADDRESS__)
    ASAN_UNPOISON_MEMORY_REGION(l->memory->dynamic_smem, KILN_EMU_DYN_SMEM_MAX);
#endif
    if (rc != 0) snprintf(err, cap, "%s", S.err);
    S.l = NULL;
    S.cur = NULL;
    pthread_mutex_unlock(&S.lock);
    return rc;
}

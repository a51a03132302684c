/* bench/bench.h — op benchmarks on the public API, for any backend.
 *
 * A case names an op, a format and a shape; kiln_bench_run() builds the
 * inputs on the context (weights in several copies whose total exceeds twice
 * the last-level cache, rotated so every run reads weights from memory, as
 * decode does), warms up, then times many runs with kiln_synchronize after
 * each and reports the median. Rates: bytes the op must move (weights,
 * activations, KV, outputs) over the time; FLOPs (2 per multiply-add). */
#ifndef KILN_BENCH_H
#define KILN_BENCH_H
#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

typedef enum kiln_bench_op {
    KILN_BENCH_MATVEC = 0, /* matmul with n = 1 unless --n says otherwise */
    KILN_BENCH_MATMUL,
    KILN_BENCH_FLASH_ATTN,
    KILN_BENCH_PAGED_ATTN,
    KILN_BENCH_NORM,
    KILN_BENCH_ROPE,       /* RoPE of q_len tokens + the KV append into a cache of `format` */
    KILN_BENCH_OP_COUNT
} kiln_bench_op;

typedef struct kiln_bench_case {
    kiln_bench_op op;
    kiln_dtype format;   /* matmul: weights; attention and rope: K/V (cache); norm: unused */
    kiln_dtype dtype;    /* activations / q / o / norm data: f32, f16, bf16 */
    /* matmul */
    int64_t m, k, n;
    unsigned epilogue;
    /* attention */
    int64_t heads, kv_heads, head_dim, q_len, kv_len, seqs, block_size;
    int causal;
    /* norm */
    int64_t rows, dim;
    int layer, residual;
    /* timing */
    int warmup, min_runs, max_runs;
    double min_seconds;  /* keep running until this much time has passed (then min_runs..max_runs) */
} kiln_bench_case;

typedef struct kiln_bench_result {
    double median_us, min_us, max_us;
    double cpu_us;       /* median process CPU time per run (all threads): on a shared,
                          * oversubscribed machine this is what the run cost, waits excluded */
    int runs;
    double bytes, flops;
    double gbps, gflops;
    int weight_copies;   /* rotated copies of the weights / KV */
} kiln_bench_result;

/* A case with the defaults of op (the anchor shapes: m=4096 k=14336, ...). */
kiln_bench_case kiln_bench_default(kiln_bench_op op);
const char *kiln_bench_op_name(kiln_bench_op op);
int kiln_bench_op_from_name(const char *name); /* -1 when unknown */
/* "m=4096 k=14336 n=1" etc. */
void kiln_bench_shape(const kiln_bench_case *c, char *buf, size_t cap);

/* Whether the case can be built: every dimension at least 1, rows of whole
 * blocks, data that fits the host's memory. KILN_ERR_INVALID_ARG (or
 * OUT_OF_MEMORY) with the reason in kiln_bench_error() when not. */
kiln_status kiln_bench_check(const kiln_bench_case *c);
/* Runs a case (checking it first). */
kiln_status kiln_bench_run(kiln_context *ctx, const kiln_bench_case *c, kiln_bench_result *r);
/* Why the last check or run failed: the benchmark's own reason, else kiln_last_error(). */
const char *kiln_bench_error(void);

/* ---- per-call overhead of the one-call op against a plan (bench/plan_overhead.c) */
typedef struct kiln_bench_overhead {
    double one_call_us;  /* per kiln_matmul call: median over rounds */
    double plan_run_us;  /* per kiln_plan_run call of a plan made once */
    double plan_us;      /* making the plan */
    int calls;           /* of each, in all rounds */
} kiln_bench_overhead;
/* A matmul y[n][m] = x[n][k] W[m][k]^T small enough that the kernel costs
 * little next to the call, `calls` calls of each per round. */
kiln_status kiln_bench_plan_overhead(kiln_context *ctx, kiln_dtype fmt, int64_t m, int64_t k, int64_t n, int calls,
                                     kiln_bench_overhead *out);

/* ---- the host's ceilings (bench/ceilings.c) */

/* Read bandwidth of the host memory in GB/s, measured now: `threads` threads
 * each summing their share of a buffer well beyond the last-level cache. */
double kiln_bench_host_read_gbps(int threads);
/* Last-level cache of the host in bytes (sysfs / sysconf; 32 MiB if unknown). */
size_t kiln_bench_llc_bytes(void);
/* Peak f32 FMA rate of `threads` cores for the cpu device in GFLOP/s, from the
 * clock in /proc/cpuinfo and the vector width (lanes x 2 FMA pipes x 2); 0 if unknown. */
double kiln_bench_cpu_peak_gflops(const kiln_device_info *info, int threads);
/* Monotonic clock in seconds. */
double kiln_bench_now(void);
/* CPU time of this process (all threads) in seconds. */
double kiln_bench_cpu_now(void);

#endif

/* tests/support/harness.h — the cross-backend test harness.
 *
 * Contexts: kt_contexts_open() makes one context per backend under test:
 *   KILN_TEST_BACKENDS   comma list of cpu, cuda, vulkan, cuda-emu (also
 *                        cpu-generic, cpu-avx2, cpu-avx512 for one ISA).
 *                        Default: cpu plus every other backend that is
 *                        available (llvmpipe included: the op sweeps take ~1.5
 *                        min on it, 2 cores; cuda-emu is the CUDA emulator,
 *                        context label "cuda-emu", backend cuda).
 *                        "cpu" means one context per ISA this machine supports,
 *                        or only $KILN_CPU_ISA (generic, avx2, avx512) when set.
 *                        Cpu contexts split every op into tasks, however small.
 *   KILN_REQUIRE_BACKENDS comma list: fail, instead of skipping, when one of
 *                        these backends is unavailable.
 * Data: Gaussian host data from a seed that changes every run (KILN_TEST_SEED
 * pins it) and is printed with every failure; tensors made on a context from
 * host data; output tensors poisoned with NaN bytes before each run.
 * Checks: kt_check() compares an output tensor with a double reference by the
 * relative error ‖out − ref‖ / max(‖ref‖, ‖err_scale‖) and by the largest
 * element error, failing on any NaN/Inf, with a message that names the case. */
#ifndef KILN_TESTS_HARNESS_H
#define KILN_TESTS_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "kiln/kernel.h"
#include "kiln/kiln.h"
#include "kiln/spec.h"

/* ---------------------------------------------------------------- contexts */

#define KT_MAX_CONTEXTS 8

typedef struct kt_ctx {
    kiln_context *ctx;
    kiln_backend backend;
    kiln_isa isa;        /* cpu: the ISA requested; KILN_ISA_NONE on GPUs */
    char label[32];      /* "cpu-avx2", "cuda", "vulkan" */
} kt_ctx;

typedef struct kt_ctx_list {
    int count;
    kt_ctx items[KT_MAX_CONTEXTS];
} kt_ctx_list;

/* Opens the contexts under test. Fails the test when a required backend is
 * unavailable; skips it when there is no context at all. */
void kt_contexts_open(kt_ctx_list *list);
void kt_contexts_close(kt_ctx_list *list);
/* Runs fn on every manifest instance of op that each context under test can
 * run (its backend, its ISA on cpu, can_implement), opening and closing the
 * contexts around the walk; index counts the instances within one context.
 * Logs how many ran per context and fails one that ran none: a manifest walk
 * that finds nothing must not pass. */
typedef void (*kt_spec_fn)(const kt_ctx *c, const kiln_spec *s, int index);
void kt_for_each_manifest_spec(kiln_op op, kt_spec_fn fn);

/* ---------------------------------------------------------------- random data */

typedef struct kt_rng {
    uint64_t s;
    double spare; /* Box-Muller makes two normals at a time */
    int has_spare;
} kt_rng;

/* The seed of this process (KILN_TEST_SEED, else from time and pid). */
uint64_t kt_seed(void);
/* A generator for one test case: the process seed mixed with a case tag, so
 * each case is reproducible from the printed seed alone. */
kt_rng kt_rng_make(uint64_t tag);
uint64_t kt_next(kt_rng *r);
double kt_uniform(kt_rng *r);            /* [0, 1) */
double kt_gauss(kt_rng *r);              /* N(0, 1) */
int64_t kt_below(kt_rng *r, int64_t n);  /* 0 .. n-1 */
/* n floats N(mean, sigma^2), malloc'ed. */
float *kt_randn(kt_rng *r, size_t n, double mean, double sigma);

/* ---------------------------------------------------------------- host encoding */

/* rows x cols floats encoded as dtype (f32/f16/bf16 convert, block formats
 * quantize row by row, i32 truncates). Returns malloc'ed bytes; *bytes is set. */
void *kt_encode(kiln_dtype t, const float *src, int64_t rows, int64_t cols, size_t *bytes);
/* Decode n elements of dtype t (any type) into doubles. */
void kt_decode(kiln_dtype t, const void *src, int64_t n, double *dst);

/* ---------------------------------------------------------------- tensors */

/* A packed tensor in a fresh buffer of exactly its span on ctx. host may be
 * NULL: the tensor is then poisoned (all bytes 0xff: NaN in f32/f16/bf16). */
kiln_tensor kt_tensor(kiln_context *ctx, kiln_dtype t, int ndim, const int64_t *ne, const void *host);
/* Same with explicit outer strides (nb[0..ndim-2] in bytes) and a leading pad
 * of offset bytes; the host data is packed and gets scattered into place. */
kiln_tensor kt_tensor_strided(kiln_context *ctx, kiln_dtype t, int ndim, const int64_t *ne,
                              const int64_t *nb, size_t offset, const void *host);
void kt_tensor_free(kiln_tensor *t);
/* Fill the tensor's span with 0xff (NaN for every float dtype). */
void kt_poison(const kiln_tensor *t);
/* Overwrite the whole buffer of t with 0xff. */
void kt_poison_buffer(kiln_buffer *b);
/* Download a tensor's elements packed (row by row through its strides). */
void *kt_download(const kiln_tensor *t, size_t *bytes);
/* Number of elements of a tensor. */
int64_t kt_numel(const kiln_tensor *t);
/* Raw copy of a whole buffer (to check it was not touched). */
void *kt_snapshot(kiln_buffer *b);

/* ---------------------------------------------------------------- checks */

/* rel: bound on ‖out − ref‖ / max(‖ref‖, ‖err_scale‖).
 * max_abs: bound on max|out − ref| / max(max|ref|, max err_scale). */
typedef struct kt_tol {
    double rel;
    double max_abs;
} kt_tol;

/* The numbers behind a check. */
typedef struct kt_stats {
    double rel;        /* ‖out − ref‖ / max(‖ref‖, ‖err_scale‖) (1 when both are 0) */
    double max_abs;    /* max|out − ref| / max(max|ref|, max err_scale) */
    int64_t worst;     /* index of the largest error */
    int64_t nonfinite; /* NaN/Inf outputs */
    int64_t first_nonfinite;
    int ok;            /* within tol and all finite */
} kt_stats;

/* Only compute the comparison (records nothing): for the harness's own tests. */
kt_stats kt_compare_host(kiln_dtype t, const void *out, int64_t n, const double *ref, const double *err_scale,
                         kt_tol tol);

/* Compare tensor out (downloaded) with ref (packed doubles). err_scale may be
 * NULL. On failure records a test failure naming `what` (backend, op, format,
 * shape) and the seed, and returns 0. Keeps going: later checks still run. */
int kt_check(const char *what, const kiln_tensor *out, const double *ref, const double *err_scale, kt_tol tol);
/* The same on a host array of n elements of dtype t. */
int kt_check_host(const char *what, kiln_dtype t, const void *out, int64_t n, const double *ref,
                  const double *err_scale, kt_tol tol);
/* Record a failure of a call: status and kiln_last_error() with the case. */
void kt_fail_status(const char *what, const char *call, kiln_status st);
/* With KILN_TEST_VERBOSE=1, prints what to stderr before a case runs (to find
 * the case a hang or a crash happens in). */
void kt_trace(const char *what);
/* Number of failures recorded so far in this test. */
int kt_failures(void);

/* Short name of a dtype ("q4_k"). */
const char *kt_dtype_name(kiln_dtype t);

#endif

/* kiln/autotune.h — find the best tiles for each op on a device, and keep them.
 *
 * Calls are grouped into shape classes (matmul by tokens n: 1, 2-8, 9-64, 65+;
 * flash attention by KV length: <=512, <=4096, more; paged attention by cache
 * capacity; norms by row length), so one tuned spec serves a range of shapes.
 * For each class the tuner searches the op's space (gen/space.h): each
 * candidate is checked against the double-precision reference on its first
 * run (a wrong one is discarded and reported, never chosen), then timed:
 * warm-up, lower quartile of repeated batches, inputs rotated beyond the last-level
 * cache. Winners go to $XDG_CACHE_HOME/kiln/tune/<device-key>.json (versioned,
 * written atomically; a corrupt or stale file is reported and rebuilt). A
 * context created with kiln_context_options.chooser = &kiln_tune_chooser
 * consults that file in every op entry point (loaded on its first call);
 * untuned shapes use the nearest tuned class of the same kernel, then heuristics. */
#ifndef KILN_AUTOTUNE_H
#define KILN_AUTOTUNE_H

#include "kiln/kernel.h"
#include "kiln/kiln.h"
#include "kiln/spec.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct kiln_tune_result {
    char shape_class[KILN_SPEC_TEXT_MAX]; /* "matmul backend=cuda fmt=q4_0 act=f32 | n=1" */
    char shape[96];                       /* the shape measured: "m=4096 k=14336 n=1" */
    char default_spec[KILN_SPEC_TEXT_MAX];
    char tuned_spec[KILN_SPEC_TEXT_MAX];
    double default_us, tuned_us;          /* times per run (lower quartile of batches) */
    int tried, rejected;                  /* candidates measured / failing the reference */
    int from_cache;                       /* 1: reused, nothing measured */
    /* How the class was searched (not kept in the cache file). */
    char search[16];                      /* "exhaustive" or "guided" */
    int space_points;                     /* points in the class's space, before pruning */
    /* check_exhaustive: the best over every point of the space, measured in
     * the same run (a point the guided search measured keeps its time). */
    char exhaustive_spec[KILN_SPEC_TEXT_MAX];
    double exhaustive_us;                 /* 0 when not checked */
    int exhaustive_visited;               /* points walked; < space_points: the budget ran out */
    /* The budget ran out: 1 during this class's search (the best found so far
     * is kept), 2 before it began (nothing measured, tuned_spec empty, not
     * cached; shape_class names only the op and format). */
    int unfinished;
} kiln_tune_result;

/* How a class's space is searched. */
typedef enum kiln_tune_search {
    KILN_TUNE_SEARCH_AUTO = 0,            /* exhaustive up to 48 points, else guided */
    KILN_TUNE_SEARCH_EXHAUSTIVE,          /* every point, however many (within the budget) */
    KILN_TUNE_SEARCH_GUIDED,              /* coordinate descent from the heuristic default */
} kiln_tune_search;

typedef struct kiln_tune_options {
    size_t size;                /* sizeof(kiln_tune_options) or 0 (kiln.h, Conventions) */
    unsigned ops;               /* bit (1u << kiln_op) per op family; 0 = all */
    double budget_s;            /* wall-clock budget for the whole run; 0 = 120 s */
    const char *model_path;     /* tune the shapes of this GGUF model instead of the defaults */
    const kiln_dtype *formats;  /* weight formats to tune (NULL = q4_0, q8_0, q4_k, f16) */
    int n_formats;
    int small;                  /* 1: small representative shapes (tests, slow devices) */
    int exhaustive;             /* 1: same as search = KILN_TUNE_SEARCH_EXHAUSTIVE */
    kiln_tune_search search;    /* default AUTO */
    int check_exhaustive;       /* 1: search guided (unless search says exhaustive), then
                                 * walk the whole space too and report its best in
                                 * kiln_tune_result.exhaustive_* (the guided pick is kept) */
    const char *axes;           /* comma list of tile fields to search ("tm,tn,threads");
                                 * the others stay at the default. NULL = all */
    int compile_threads;        /* threads compiling a batch of candidates before they are
                                 * measured, where the backend compiles at run time:
                                 * 0 = one per core (at most 8), 1 = compile on first run */
    int force;                  /* 1: measure even classes already in the cache */
    /* Progress: called before each candidate and once at the end (done == total). */
    void (*progress)(void *user, int done, int total, const char *what);
    void *user;
    /* Testing hook: called after each candidate's first run, before its output is
     * checked against the reference (a test corrupts the output here). */
    void (*after_first_run)(void *user, kiln_context *ctx, const kiln_spec *spec, const void *params);
} kiln_tune_options;

kiln_tune_options kiln_tune_options_default(void);

/* The chooser of tuned specs (kiln_context_options.chooser). kiln_tune on a
 * context that consults it updates what its next calls choose. */
extern const kiln_chooser kiln_tune_chooser;

/* Tune, update the device's cache file, and return one result per shape class
 * (free with kiln_tune_results_free). */
kiln_status kiln_tune(kiln_context *ctx, const kiln_tune_options *opts, kiln_tune_result **results,
                      size_t *n_results);
void kiln_tune_results_free(kiln_tune_result *results);

/* "cpu-avx2-amd-epyc", "cuda-nvidia-h100-80gb-hbm3-sm90-580.159.04": backend, vendor,
 * name, driver version, compute capability or ISA, sanitized for a file name. */
kiln_status kiln_tune_device_key(const kiln_context *ctx, char *buf, size_t cap);
/* Path of the context's tuning cache file. */
kiln_status kiln_tune_cache_path(const kiln_context *ctx, char *buf, size_t cap);
/* The cached entries of the context's device (free with kiln_tune_results_free);
 * KILN_ERR_FORMAT with the reason when the file is corrupt or stale. */
kiln_status kiln_tune_cache_read(const kiln_context *ctx, kiln_tune_result **results, size_t *n);

/* Bring-up check: run the kernel the context would choose for op on random
 * inputs of a small shape (matmul with weight format fmt; attention with K/V
 * of fmt; norm ignores fmt) and compare it with the double-precision
 * reference. KILN_OK when it matches; report gets the shape, the spec and the
 * relative error either way. */
kiln_status kiln_selfcheck(kiln_context *ctx, kiln_op op, kiln_dtype fmt, char *report, size_t cap);

#ifdef __cplusplus
}
#endif
#endif

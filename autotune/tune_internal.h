/* autotune/tune_internal.h — pieces of the autotuner (internal).
 *
 *   classes.c   shape classes (bands) and the representative shapes tuned
 *   problem.c   random inputs on a context, rotated copies, the reference check
 *   measure.c   timing: warm-up, batches, lower quartile
 *   search.c    candidates from the search space: exhaustive or coordinate descent
 *   cache.c     the per-device JSON file and its in-memory form
 *   lookup.c    kiln_tune_chooser: what the op entry points ask, the tuned spec for a call
 *   tune.c      kiln_tune(): the loop over classes, progress, results */
#ifndef KILN_AUTOTUNE_INTERNAL_H
#define KILN_AUTOTUNE_INTERNAL_H
#include <stddef.h>

#include "kernels/core/backend.h"
#include "kiln/autotune.h"

#define KILN_TUNE_FILE_VERSION 1

/* ---- classes.c */
int kiln_tune_band_count(kiln_op op);
const char *kiln_tune_band_name(kiln_op op, int band);
/* "<base spec text with tiles cleared> | <band name>" */
void kiln_tune_class_key(const kiln_spec *base, int band, char *buf, size_t cap);

/* A shape to tune: the op, its sizes and the band they fall in. */
typedef struct kiln_tune_shape {
    kiln_op op;
    kiln_dtype fmt, act;        /* weight / KV format, activation dtype */
    unsigned flags;             /* matmul epilogue, norm kind/residual */
    int64_t m, n, k;            /* matmul: y[n][m] = x[n][k] W[m][k]^T; norm: rows n, dim k */
    int64_t n_q, n_kv, n_head, n_kv_head, head_dim; /* attention; paged: n_q = sequences */
    int64_t block_size;         /* paged attention */
    int causal;
} kiln_tune_shape;

/* Describe a shape ("m=4096 k=14336 n=1"). */
void kiln_tune_shape_text(const kiln_tune_shape *s, char *buf, size_t cap);
/* The default shapes for a device, or those of a GGUF model; malloc'd list. */
kiln_status kiln_tune_default_shapes(const kiln_context *ctx, const kiln_tune_options *o,
                                     kiln_tune_shape **out, size_t *n);
kiln_status kiln_tune_model_shapes(const kiln_tune_options *o, kiln_tune_shape **out, size_t *n);

/* ---- problem.c */
typedef struct kiln_tune_problem kiln_tune_problem;
kiln_status kiln_tune_problem_create(kiln_context *ctx, const kiln_tune_shape *s,
                                     kiln_tune_problem **out);
void kiln_tune_problem_free(kiln_tune_problem *p);
/* Params for rotation r (inputs and outputs rotate together). */
const void *kiln_tune_problem_params(kiln_tune_problem *p, int r);
int kiln_tune_problem_rotations(const kiln_tune_problem *p);
/* Compare the output of rotation r with the reference. KILN_OK or a message. */
kiln_status kiln_tune_problem_check(kiln_tune_problem *p, int r, const kiln_spec *spec);
/* Poison rotation r's output (NaN) so an unwritten output fails the check. */
kiln_status kiln_tune_problem_poison(kiln_tune_problem *p, int r);

/* ---- measure.c: microseconds per run of spec on the problem (lower quartile of batches). */
kiln_status kiln_tune_measure(kiln_context *ctx, kiln_tune_problem *p, const kiln_spec *spec,
                              double max_seconds, double *us);

/* ---- cache.c */
typedef struct kiln_tune_entry {
    kiln_tune_result r;
    kiln_spec spec;             /* r.tuned_spec parsed */
    int band;
    char base_key[KILN_SPEC_TEXT_MAX]; /* class key without the band */
    int trust;                  /* lookup.c: 0 not checked yet, 1 usable, -1 skipped (warned once) */
} kiln_tune_entry;

struct kiln_tune_cache {
    kiln_tune_entry *e;
    size_t n, cap;
    int loaded;                 /* load attempted */
    char problem[4096 + 2048];          /* why the file was not used, if it was not */
};

kiln_status kiln_tune_cache_load(const kiln_context *ctx, struct kiln_tune_cache *c);
kiln_status kiln_tune_cache_save(const kiln_context *ctx, const struct kiln_tune_cache *c);
/* The file's text (len bytes, no terminator needed) for the device want_key
 * into c (entries added; c->n may be partly filled on an error: clear it). */
kiln_status kiln_tune_cache_parse(const char *want_key, const char *text, size_t len, struct kiln_tune_cache *c);
/* Insert or replace the entry of r->shape_class. */
kiln_status kiln_tune_cache_put(struct kiln_tune_cache *c, const kiln_tune_result *r);
const kiln_tune_entry *kiln_tune_cache_find(const struct kiln_tune_cache *c, const char *class_key);
void kiln_tune_cache_clear(struct kiln_tune_cache *c);
/* ---- lookup.c */
/* c, loaded from the device's file on first use (a bad file is warned of
 * once and leaves c empty). NULL stays NULL. */
struct kiln_tune_cache *kiln_tune_cache_loaded(kiln_context *ctx, struct kiln_tune_cache *c);
/* The cache of ctx's kiln_tune_chooser, loaded; NULL when ctx does not consult it. */
struct kiln_tune_cache *kiln_tune_cache_of(kiln_context *ctx);

#endif

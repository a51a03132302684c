/* demo/bench_spec.h — `kiln bench -m TARGET --draft DRAFT | --lookup N`:
 * speculative decoding against plain decoding in the same run. */
#ifndef KILN_DEMO_BENCH_SPEC_H
#define KILN_DEMO_BENCH_SPEC_H

#include "kiln/kiln.h"

typedef struct bench_spec_opts {
    const char *model, *device;
    const char *draft;       /* a draft model, or NULL */
    int lookup;              /* prompt lookup's longest n-gram, or 0 */
    int draft_max;           /* proposals per pass */
    const char *prompt_file; /* the prompt's text, or NULL: the built-in code-editing prompt */
    int n_gen, reps, threads;
    kiln_dtype kv;
} bench_spec_opts;

/* Prints the table; returns the exit code (0 ok, 1 error, printed). */
int kiln_bench_speculative(const bench_spec_opts *o);

#endif

/* demo/model_flags.h — the flags `kiln chat` and `kiln serve` share: the
 * model, where it runs, its chat template and the sampling defaults.
 * Numbers are parsed strictly (the whole word, in range) so a typo is a usage
 * error, never a silent 0. */
#ifndef KILN_DEMO_MODEL_FLAGS_H
#define KILN_DEMO_MODEL_FLAGS_H

#include <stdio.h>

#include "kiln/runtime.h"

typedef struct model_flags {
    const char *model;
    const char *device;        /* "cpu" unless --backend/--device */
    const char *chat_template; /* NULL: detect from the model */
    int threads, ctx;
    kiln_dtype kv_type;
    kiln_sampler_params sp;
    int seed_given;
} model_flags;

void model_flags_init(model_flags *f);
/* Consumes argv[*i] (and its value) when it is one of the shared flags.
 * Returns 1 consumed, 0 not one of them, -1 usage error (printed, naming cmd). */
int model_flags_parse(model_flags *f, const char *cmd, int argc, char **argv, int *i);
/* The --help lines of the shared flags. */
void model_flags_usage(FILE *out);

/* Strict integer / float parsing of a flag's value; print a usage error
 * naming cmd and flag on failure (return -1). */
int flag_int(const char *cmd, const char *flag, const char *v, long lo, long hi, int *out);
int flag_float(const char *cmd, const char *flag, const char *v, double lo, double hi, float *out);

/* Loads the model, creates the context and a session of max_seqs sequences
 * (messages on stderr naming cmd). Returns 0 or 1. */
int model_flags_open(const model_flags *f, const char *cmd, int max_seqs, kiln_model **m, kiln_context **ctx,
                     kiln_session **s);

#endif

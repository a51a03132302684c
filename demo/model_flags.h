/* demo/model_flags.h — the flags `kiln chat` and `kiln serve` share: the
 * model, how it is loaded (--tokenizer-pre, also for `kiln run` and
 * `kiln bench -m`), where it runs, its chat template and the sampling defaults.
 * Numbers are parsed strictly by demo/args.c (the whole word, in range) so a
 * typo is a usage error, never a silent 0. */
#ifndef KILN_DEMO_MODEL_FLAGS_H
#define KILN_DEMO_MODEL_FLAGS_H

#include <stdio.h>

#include "kiln/runtime.h"

typedef struct model_flags {
    const char *model;
    const char *device;        /* "cpu" unless --backend/--device */
    const char *chat_template; /* NULL: detect from the model */
    const char *tokenizer_pre; /* NULL: the file's */
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

/* The --help lines of --tokenizer-pre. */
void model_flags_usage_tokenizer_pre(FILE *out);
/* kiln_model_load_ex with --tokenizer-pre's value (NULL: the file's); the
 * error on stderr naming cmd. Returns 0 or 1. */
int model_flags_load(const char *cmd, const char *path, const char *tokenizer_pre, kiln_model **m);

/* Loads the model, creates the context and a session of max_seqs sequences
 * (messages on stderr naming cmd). Returns 0 or 1. */
int model_flags_open(const model_flags *f, const char *cmd, int max_seqs, kiln_model **m, kiln_context **ctx,
                     kiln_session **s);

#endif

/* demo/serve_sched.h — `kiln serve`'s scheduler: one thread owns the session
 * and steps the continuous batch; HTTP handler threads submit jobs and read
 * each job's output as it grows.
 *
 * A job is a prompt (token ids) and how to sample it. The scheduler admits
 * jobs first come, first served while fewer than `parallel` run, prefills
 * each on its own sequence, then advances every running job by one token per
 * step (one kiln_session_decode over all of them). Jobs leave between steps:
 * at EOS or the template's end-of-turn token, a stop string, max_tokens, a
 * full context, or when cancelled (the client went away).
 *
 * A job's output is its text so far plus how much of it is published: text
 * that could still turn out to be the start of a stop string, or an
 * incomplete UTF-8 character, is held back until it is decided. A job is
 * reference-counted: the handler and the scheduler each hold one. */
#ifndef KILN_DEMO_SERVE_SCHED_H
#define KILN_DEMO_SERVE_SCHED_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "demo/serve_json.h"
#include "kiln/runtime.h"

typedef struct serve_job serve_job;
typedef struct serve_sched serve_sched;

/* What a handler sees of a job (a copy, taken under the job's lock). */
typedef struct serve_job_view {
    size_t published;    /* bytes of text final */
    int done;
    const char *finish;  /* "stop" | "length" once done */
    int prompt_tokens, completion_tokens;
    char error[256];     /* the runtime failed: why ("" otherwise) */
} serve_job_view;

typedef struct serve_stats {
    uint64_t requests, prompt_tokens, generated_tokens, prefix_hit_tokens;
    int queued, running;
    int kv_blocks_used, kv_blocks_total, kv_blocks_cached;
} serve_stats;

typedef struct serve_sched_options {
    int parallel;          /* jobs decoding at once (<= the session's max_seqs) */
    int32_t eot;           /* end-of-turn token besides EOS, or -1 */
    int prefix_cache;      /* share full KV blocks of equal prompt prefixes */
    int lookup;            /* speculative decoding by prompt lookup: n-grams up to this (0 = off) */
    int draft_max;         /* proposals per request and step (with lookup) */
} serve_sched_options;

kiln_status serve_sched_start(kiln_session *s, const kiln_model *m, const serve_sched_options *o, serve_sched **out);
/* Stops admitting (submit fails from now on), ends every job (queued and
 * running ones finish with what they have) and joins the thread. The
 * scheduler stays valid for handlers still holding it. */
void serve_sched_stop(serve_sched *S);
/* Stops it if need be, then frees it (no handler may use it any more). */
void serve_sched_free(serve_sched *S);
serve_stats serve_sched_stats(serve_sched *S);

/* A job for prompt[n] (copied); stop strings copied. max_tokens > 0. With
 * ignore_eos, EOS and the end-of-turn token are generated like any other. */
serve_job *serve_job_new(const int32_t *prompt, int n, int max_tokens, const kiln_sampler_params *sp,
                         char *const *stop, int n_stop, int ignore_eos);
/* Queues the job (the scheduler takes its own reference). -1 when stopping. */
int serve_sched_submit(serve_sched *S, serve_job *j);
/* The client is gone: the scheduler ends the job at its next step. */
void serve_job_cancel(serve_job *j);
void serve_job_release(serve_job *j);
/* Waits up to timeout_s for text past `from` or the end; returns the view,
 * and the published text from `from` on as a malloc'ed copy in *chunk
 * (*chunk_len bytes; NULL when there is none). With one_publication, only
 * up to the end of the first publication past `from` (about one token): a
 * stream sends that as one event, however far behind its reader is. */
serve_job_view serve_job_wait(serve_job *j, size_t from, double timeout_s, int one_publication, char **chunk,
                              size_t *chunk_len);

#endif

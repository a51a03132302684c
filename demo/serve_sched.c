/* demo/serve_sched.c — the scheduler thread of `kiln serve` (see
 * serve_sched.h): FIFO admission, per-job prefill, one batched decode step
 * for all running jobs, stop conditions, publishing text to the handlers. */
#include "demo/serve_sched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/error.h"
#include "runtime/session.h"

struct serve_job {
    /* set before submit, read-only after */
    int32_t *hist;                 /* prompt, then the generated tokens [n_prompt + max_tokens] */
    int n_prompt, max_tokens, ignore_eos;
    kiln_sampler_params sp;
    char *stop[SERVE_MAX_STOP];
    int n_stop;
    size_t max_stop_len;

    /* shared with the handler, under mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *text;                    /* generated text [n_text] */
    size_t n_text, cap_text, published;
    size_t *marks;                 /* where each publication ended [n_marks <= max_tokens + 1]: a
                                      stream sends one event per mark, so token by token even when
                                      the reader falls behind */
    int n_marks;
    int n_generated, done, cancelled, refs;
    const char *finish;
    char error[256];

    /* the scheduler's own */
    int32_t seq;
    int32_t next;                  /* sampled, to be fed in the next step */
    kiln_sampler *smp;
    serve_job *queue_next;
};

struct serve_sched {
    kiln_session *s;
    const kiln_model *m;
    const kiln_tokenizer *tok;
    serve_sched_options o;
    int32_t n_vocab, eos, capacity;
    pthread_t thread;
    pthread_mutex_t mu;            /* queue, stopping, stats */
    pthread_cond_t cv;
    serve_job *head, *tail;        /* FIFO of jobs waiting for a sequence */
    int stopping;
    serve_stats stats;
    serve_job **running;           /* [parallel] */
    int n_running;
    float *logits;                 /* [parallel][n_vocab] */
    int32_t *step_seqs, *step_tokens;
    kiln_proposer *lookup;         /* speculative decoding (stateless: one for all jobs), or NULL */
    kiln_spec_seq *spec;           /* [parallel] */
};

/* ------------------------------------------------------------------ jobs */

serve_job *serve_job_new(const int32_t *prompt, int n, int max_tokens, const kiln_sampler_params *sp,
                         char *const *stop, int n_stop, int ignore_eos)
{
    serve_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    j->hist = malloc(((size_t)n + (size_t)max_tokens) * sizeof *j->hist);
    j->marks = malloc(((size_t)max_tokens + 1) * sizeof *j->marks);
    if (!j->hist || !j->marks) {
        free(j->hist);
        free(j->marks);
        free(j);
        return NULL;
    }
    memcpy(j->hist, prompt, (size_t)n * sizeof *prompt);
    j->n_prompt = n, j->max_tokens = max_tokens, j->sp = *sp, j->ignore_eos = ignore_eos;
    for (int i = 0; i < n_stop && i < SERVE_MAX_STOP; i++) {
        if (!(j->stop[j->n_stop] = strdup(stop[i]))) break;
        size_t len = strlen(stop[i]);
        if (len > j->max_stop_len) j->max_stop_len = len;
        j->n_stop++;
    }
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->seq = -1;
    return j;
}

void serve_job_release(serve_job *j)
{
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    for (int i = 0; i < j->n_stop; i++) free(j->stop[i]);
    kiln_sampler_free(j->smp);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j->text);
    free(j->marks);
    free(j->hist);
    free(j);
}

void serve_job_cancel(serve_job *j)
{
    pthread_mutex_lock(&j->mu);
    j->cancelled = 1;
    pthread_mutex_unlock(&j->mu);
}

static int job_cancelled(serve_job *j)
{
    pthread_mutex_lock(&j->mu);
    int c = j->cancelled;
    pthread_mutex_unlock(&j->mu);
    return c;
}

serve_job_view serve_job_wait(serve_job *j, size_t from, double timeout_s, int one_publication, char **chunk,
                              size_t *chunk_len)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)timeout_s;
    until.tv_nsec += (long)((timeout_s - (double)(time_t)timeout_s) * 1e9);
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&j->mu);
    while (!j->done && j->published <= from)
        if (pthread_cond_timedwait(&j->cv, &j->mu, &until) == ETIMEDOUT) break;
    serve_job_view v = {.published = j->published, .done = j->done, .finish = j->finish,
                        .prompt_tokens = j->n_prompt, .completion_tokens = j->n_generated};
    memcpy(v.error, j->error, sizeof v.error);
    *chunk = NULL, *chunk_len = 0;
    size_t upto = j->published; /* the first publication past `from` */
    for (int i = 0; one_publication && i < j->n_marks; i++)
        if (j->marks[i] > from) {
            upto = j->marks[i] < upto ? j->marks[i] : upto;
            break;
        }
    if (upto > from && (*chunk = malloc(upto - from))) {
        memcpy(*chunk, j->text + from, upto - from);
        *chunk_len = upto - from;
    }
    pthread_mutex_unlock(&j->mu);
    return v;
}

/* -------------------------------------------------------- job progress */

/* Bytes at the end of text that may still become a stop string, or are an
 * incomplete UTF-8 character: not published yet. */
static size_t held_back(const serve_job *j)
{
    size_t hold = 0;
    for (int i = 0; i < j->n_stop; i++) {
        size_t len = strlen(j->stop[i]);
        for (size_t k = len - 1; k > hold; k--)
            if (k <= j->n_text && !memcmp(j->text + j->n_text - k, j->stop[i], k)) {
                hold = k;
                break;
            }
    }
    /* an incomplete UTF-8 character at the end */
    size_t n = j->n_text;
    for (size_t back = 1; back <= 3 && back <= n; back++) {
        unsigned char c = (unsigned char)j->text[n - back];
        if ((c & 0xC0) == 0x80) continue;                 /* continuation byte: look further back */
        int want = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        if ((size_t)want > back && back > hold) hold = back;
        break;
    }
    return hold;
}

/* Under j->mu: text up to `upto` is final. */
static void publish_locked(serve_job *j, size_t upto)
{
    j->published = upto;
    if (j->n_marks && j->marks[j->n_marks - 1] >= upto) return;
    if (j->n_marks <= j->max_tokens) j->marks[j->n_marks++] = upto;
    else j->marks[j->n_marks - 1] = upto; /* cannot happen: one mark per token at most */
}

/* Under j->mu: the job is over. */
static void finish_locked(serve_job *j, const char *why)
{
    j->done = 1;
    j->finish = why;
    publish_locked(j, j->n_text);
    pthread_cond_broadcast(&j->cv);
}

/* Takes the sampled token: text, stop strings, limits. Returns 1 when the job
 * goes on (next is to be fed), 0 when it has finished. */
static int accept_token(serve_sched *S, serve_job *j, int32_t tok)
{
    if (!j->ignore_eos && (tok == S->eos || tok == S->o.eot)) {
        pthread_mutex_lock(&j->mu);
        finish_locked(j, "stop");
        pthread_mutex_unlock(&j->mu);
        return 0;
    }
    char piece[256];
    int len = kiln_token_to_text(S->tok, tok, 0, piece, sizeof piece);
    if (len > (int)sizeof piece) len = (int)sizeof piece;
    if (len < 0) len = 0;
    pthread_mutex_lock(&j->mu);
    int go_on = 1;
    if (j->n_text + (size_t)len + 1 > j->cap_text) {
        size_t cap = j->cap_text ? j->cap_text * 2 : 256;
        while (cap < j->n_text + (size_t)len + 1) cap *= 2;
        char *t = realloc(j->text, cap);
        if (!t) {
            snprintf(j->error, sizeof j->error, "out of memory");
            finish_locked(j, "stop");
            pthread_mutex_unlock(&j->mu);
            return 0;
        }
        j->text = t, j->cap_text = cap;
    }
    size_t before = j->n_text;
    memcpy(j->text + j->n_text, piece, (size_t)len);
    j->n_text += (size_t)len;
    j->hist[j->n_prompt + j->n_generated++] = tok;
    /* A stop string may span pieces: search from where it could begin. */
    size_t from = before > j->max_stop_len ? before - j->max_stop_len : 0;
    for (int i = 0; i < j->n_stop && go_on; i++) {
        char *hit = memmem(j->text + from, j->n_text - from, j->stop[i], strlen(j->stop[i]));
        if (hit) {
            j->n_text = (size_t)(hit - j->text);
            finish_locked(j, "stop");
            go_on = 0;
        }
    }
    if (go_on && j->n_generated >= j->max_tokens) finish_locked(j, "length"), go_on = 0;
    /* tok is fed next, after the n_prompt + n_generated - 1 before it (counted from
     * the history: with speculation the cache may already hold more) */
    if (go_on && j->n_prompt + j->n_generated > S->capacity) finish_locked(j, "length"), go_on = 0;
    if (go_on) {
        publish_locked(j, j->n_text - held_back(j));
        if (j->published > before || len == 0) pthread_cond_broadcast(&j->cv);
    }
    pthread_mutex_unlock(&j->mu);
    pthread_mutex_lock(&S->mu);
    S->stats.generated_tokens++;
    pthread_mutex_unlock(&S->mu);
    if (go_on) j->next = tok;
    return go_on;
}

static void fail_job(serve_job *j, const char *msg)
{
    pthread_mutex_lock(&j->mu);
    snprintf(j->error, sizeof j->error, "%s", msg);
    finish_locked(j, "stop");
    pthread_mutex_unlock(&j->mu);
}

/* The job leaves the batch: its sequence ends (its full blocks stay cached
 * when prefix caching is on), the scheduler's reference goes. */
static void retire(serve_sched *S, int i)
{
    serve_job *j = S->running[i];
    if (j->seq >= 0) {
        if (S->o.prefix_cache) kiln_session_seq_cache(S->s, j->seq, j->hist, (size_t)kiln_session_seq_len(S->s, j->seq));
        kiln_session_seq_end(S->s, j->seq);
    }
    pthread_mutex_lock(&j->mu);
    if (!j->done) finish_locked(j, "stop");
    pthread_mutex_unlock(&j->mu);
    S->running[i] = S->running[--S->n_running];
    serve_job_release(j);
}

/* Starts a job: a sequence, its prompt prefilled (what the prefix cache
 * holds of it is not recomputed), the first token sampled. Returns whether
 * it runs on. */
static int start_job(serve_sched *S, serve_job *j)
{
    if (kiln_session_seq_begin(S->s, &j->seq) || kiln_sampler_create(&j->sp, S->n_vocab, &j->smp)) {
        fail_job(j, kiln_last_error());
        return 0;
    }
    size_t reused = 0;
    if (S->o.prefix_cache) reused = (size_t)kiln_session_seq_reuse_prefix(S->s, j->seq, j->hist, (size_t)j->n_prompt);
    if (kiln_session_prefill(S->s, j->seq, j->hist + reused, (size_t)j->n_prompt - reused, S->logits)) {
        fail_job(j, kiln_last_error());
        return 0;
    }
    if (S->o.prefix_cache) kiln_session_seq_cache(S->s, j->seq, j->hist, (size_t)j->n_prompt);
    pthread_mutex_lock(&S->mu);
    S->stats.prompt_tokens += (uint64_t)j->n_prompt;
    S->stats.prefix_hit_tokens += reused;
    pthread_mutex_unlock(&S->mu);
    int32_t tok = kiln_sampler_sample(j->smp, S->logits, j->hist, (size_t)j->n_prompt);
    return accept_token(S, j, tok);
}

/* The runtime failed a step: every running job fails with its message. */
static void fail_all(serve_sched *S)
{
    char msg[256];
    snprintf(msg, sizeof msg, "%s", kiln_last_error());
    for (int i = 0; i < S->n_running; i++) fail_job(S->running[i], msg);
    while (S->n_running) retire(S, S->n_running - 1);
}

static void retire_job(serve_sched *S, serve_job *j)
{
    for (int k = 0; k < S->n_running; k++)
        if (S->running[k] == j) {
            retire(S, k);
            return;
        }
}

/* One speculative step over every running job (kiln_spec_step: each job's
 * proposals, one target pass for all, each job's own count accepted); the
 * new tokens go through accept_token in order, until one ends the job. */
static void spec_step(serve_sched *S)
{
    int n = S->n_running;
    serve_job *order[n > 0 ? n : 1];
    memcpy(order, S->running, (size_t)n * sizeof *order);
    for (int i = 0; i < n; i++) {
        serve_job *j = order[i];
        /* j->hist: the tokens in the cache, then j->next; room up to max_tokens */
        S->spec[i] = (kiln_spec_seq){.seq_id = j->seq, .proposer = S->lookup, .sampler = j->smp, .tokens = j->hist,
                                     .n_tokens = (size_t)(j->n_prompt + j->n_generated),
                                     .cap_tokens = (size_t)(j->n_prompt + j->max_tokens), .max_draft = S->o.draft_max};
    }
    if (kiln_spec_step(S->s, (size_t)n, S->spec)) {
        fail_all(S);
        return;
    }
    for (int i = 0; i < n; i++) {
        serve_job *j = order[i];
        size_t from = (size_t)(j->n_prompt + j->n_generated);
        for (size_t t = from; t < S->spec[i].n_tokens; t++)
            if (!accept_token(S, j, j->hist[t])) {
                retire_job(S, j);
                break;
            }
    }
}

/* One decode step over every running job; retires those that ended. */
static void step(serve_sched *S)
{
    if (S->lookup) {
        spec_step(S);
        return;
    }
    int n = 0;
    for (int i = 0; i < S->n_running; i++) {
        S->step_seqs[n] = S->running[i]->seq;
        S->step_tokens[n++] = S->running[i]->next;
    }
    if (kiln_session_decode(S->s, (size_t)n, S->step_seqs, S->step_tokens, S->logits)) {
        fail_all(S);
        return;
    }
    /* running[] is in step order until the first retire; sample all first. */
    serve_job *order[S->n_running > 0 ? S->n_running : 1];
    memcpy(order, S->running, (size_t)n * sizeof *order);
    for (int i = 0; i < n; i++) {
        serve_job *j = order[i];
        int32_t tok = kiln_sampler_sample(j->smp, S->logits + (size_t)i * S->n_vocab, j->hist,
                                          (size_t)(j->n_prompt + j->n_generated));
        if (!accept_token(S, j, tok)) retire_job(S, j);
    }
}

static void update_stats_locked(serve_sched *S)
{
    const kiln_kv_cache *kv = &S->s->kv;
    int queued = 0;
    for (serve_job *q = S->head; q; q = q->queue_next) queued++;
    S->stats.queued = queued;
    S->stats.running = S->n_running;
    S->stats.kv_blocks_total = kv->n_blocks;
    S->stats.kv_blocks_cached = kiln_kv_cache_idle(kv);
    S->stats.kv_blocks_used = kv->n_blocks - kiln_kv_cache_available(kv);
}

static void *sched_main(void *arg)
{
    serve_sched *S = arg;
    for (;;) {
        pthread_mutex_lock(&S->mu);
        update_stats_locked(S);
        while (!S->stopping && !S->head && S->n_running == 0) pthread_cond_wait(&S->cv, &S->mu);
        if (S->stopping) {
            pthread_mutex_unlock(&S->mu);
            break;
        }
        /* Admit first come, first served while sequences are free. */
        serve_job *admit[S->o.parallel];
        int n_admit = 0;
        while (S->head && S->n_running + n_admit < S->o.parallel) {
            admit[n_admit++] = S->head;
            S->head = S->head->queue_next;
            if (!S->head) S->tail = NULL;
        }
        update_stats_locked(S);
        pthread_mutex_unlock(&S->mu);

        for (int i = 0; i < n_admit; i++) {
            serve_job *j = admit[i];
            S->running[S->n_running++] = j;
            if (job_cancelled(j) || !start_job(S, j)) retire(S, S->n_running - 1);
        }
        /* Clients that went away leave before the step. */
        for (int i = S->n_running - 1; i >= 0; i--)
            if (job_cancelled(S->running[i])) retire(S, i);
        if (S->n_running) step(S);
    }
    while (S->n_running) retire(S, S->n_running - 1);
    return NULL;
}

/* ------------------------------------------------------------ scheduler */

kiln_status serve_sched_start(kiln_session *s, const kiln_model *m, const serve_sched_options *o, serve_sched **out)
{
    serve_sched *S = calloc(1, sizeof *S);
    if (!S) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "serve: out of memory");
    S->s = s, S->m = m, S->o = *o;
    S->tok = kiln_model_tokenizer(m);
    S->n_vocab = kiln_model_get_config(m)->n_vocab;
    S->eos = S->tok ? kiln_tokenizer_eos(S->tok) : -1;
    S->capacity = kiln_session_capacity(s);
    if (S->o.parallel > s->max_seqs) S->o.parallel = s->max_seqs;
    S->running = calloc((size_t)S->o.parallel, sizeof *S->running);
    S->logits = malloc((size_t)S->o.parallel * (size_t)S->n_vocab * sizeof *S->logits);
    S->step_seqs = malloc((size_t)S->o.parallel * sizeof *S->step_seqs);
    S->step_tokens = malloc((size_t)S->o.parallel * sizeof *S->step_tokens);
    S->spec = malloc((size_t)S->o.parallel * sizeof *S->spec);
    if (!S->running || !S->logits || !S->step_seqs || !S->step_tokens || !S->spec) {
        serve_sched_free(S);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "serve: out of memory");
    }
    kiln_status st;
    if (S->o.lookup && (st = kiln_proposer_lookup(S->o.lookup, &S->lookup))) {
        serve_sched_free(S);
        return st;
    }
    if (S->o.prefix_cache) kiln_session_prefix_cache(s, 1);
    pthread_mutex_init(&S->mu, NULL);
    pthread_cond_init(&S->cv, NULL);
    if (pthread_create(&S->thread, NULL, sched_main, S)) {
        kiln_proposer_free(S->lookup);
        free(S->running), free(S->logits), free(S->step_seqs), free(S->step_tokens), free(S->spec), free(S);
        return kiln_fail(KILN_ERR_INTERNAL, "serve: cannot start the scheduler thread");
    }
    *out = S;
    return KILN_OK;
}

void serve_sched_stop(serve_sched *S)
{
    if (!S || !S->thread) return;
    pthread_mutex_lock(&S->mu);
    S->stopping = 1;
    pthread_cond_broadcast(&S->cv);
    pthread_mutex_unlock(&S->mu);
    pthread_join(S->thread, NULL);
    S->thread = 0;
    /* Jobs still queued end with nothing. */
    pthread_mutex_lock(&S->mu);
    for (serve_job *q = S->head, *next; q; q = next) {
        next = q->queue_next;
        pthread_mutex_lock(&q->mu);
        finish_locked(q, "stop");
        pthread_mutex_unlock(&q->mu);
        serve_job_release(q);
    }
    S->head = S->tail = NULL;
    pthread_mutex_unlock(&S->mu);
}

void serve_sched_free(serve_sched *S)
{
    if (!S) return;
    int started = S->thread != 0 || S->stopping;
    serve_sched_stop(S);
    if (started) pthread_mutex_destroy(&S->mu), pthread_cond_destroy(&S->cv);
    free(S->running);
    free(S->logits);
    free(S->step_seqs);
    free(S->step_tokens);
    free(S->spec);
    kiln_proposer_free(S->lookup);
    free(S);
}

int serve_sched_submit(serve_sched *S, serve_job *j)
{
    pthread_mutex_lock(&S->mu);
    if (S->stopping) {
        pthread_mutex_unlock(&S->mu);
        return -1;
    }
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
    j->queue_next = NULL;
    if (S->tail) S->tail->queue_next = j;
    else S->head = j;
    S->tail = j;
    S->stats.requests++;
    pthread_cond_broadcast(&S->cv);
    pthread_mutex_unlock(&S->mu);
    return 0;
}

serve_stats serve_sched_stats(serve_sched *S)
{
    pthread_mutex_lock(&S->mu);
    serve_stats st = S->stats;
    pthread_mutex_unlock(&S->mu);
    return st;
}

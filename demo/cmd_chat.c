/* demo/cmd_chat.c — `kiln chat`: an interactive conversation with an
 * instruct model, replies streamed token by token.
 *
 * The conversation is rendered with the model's chat template each turn; the
 * KV cache keeps everything said so far, so a turn prefills only the text the
 * new rendering adds after what the cache holds (kv_text below). When the new
 * rendering does not extend kv_text (a template that trims or reorders), the
 * cache starts over from the whole conversation: slower, never wrong.
 *
 * Ctrl-C (SIGINT) during a reply stops the reply and returns to the prompt;
 * at the prompt it reminds how to leave. /exit or end of input leaves. */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/args.h"
#include "demo/commands.h"
#include "demo/model_flags.h"
#include "runtime/chat_template.h"

static volatile sig_atomic_t interrupted;

static void on_sigint(int sig)
{
    (void)sig;
    interrupted = 1;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln chat -m MODEL [--system TEXT] [--chat-template NAME] [-n N] [options]\n\n"
               "Talks with an instruct model: type a message, the reply streams back. The conversation\n"
               "stays in the KV cache, so each turn prefills only what is new.\n"
               "/exit or end of input (Ctrl-D) leaves; Ctrl-C stops a reply.\n\n"
               "      --system TEXT       a system message opening the conversation (also -sys,\n"
               "                          --system-prompt, as llama-cli)\n"
               "  -n, --n-predict N       at most N tokens per reply (default 512)\n"
               "  -v, --verbose           after each turn, on stderr: tokens prefilled and held in the cache\n");
    model_flags_usage(f);
}

/* A growable string: what the KV cache holds, as text. */
typedef struct text {
    char *p;
    size_t n, cap;
} text;

static int text_put(text *t, const char *s, size_t len)
{
    if (t->n + len + 1 > t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 1024;
        while (cap < t->n + len + 1) cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) return -1;
        t->p = p, t->cap = cap;
    }
    memcpy(t->p + t->n, s, len);
    t->n += len;
    t->p[t->n] = 0;
    return 0;
}

/* The conversation: messages own their content. */
typedef struct conversation {
    kiln_chat_msg *msgs;
    size_t n, cap;
} conversation;

static int conv_push(conversation *c, kiln_chat_role role, const char *content, size_t len)
{
    if (c->n == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 8;
        kiln_chat_msg *m = realloc(c->msgs, cap * sizeof *m);
        if (!m) return -1;
        c->msgs = m, c->cap = cap;
    }
    char *s = malloc(len + 1);
    if (!s) return -1;
    memcpy(s, content, len);
    s[len] = 0;
    c->msgs[c->n++] = (kiln_chat_msg){role, s};
    return 0;
}

static void conv_truncate(conversation *c, size_t n)
{
    while (c->n > n) free((char *)c->msgs[--c->n].content);
}

typedef struct chat {
    const char *cmd;
    const kiln_chat_template *tmpl;
    const kiln_tokenizer *tok;
    kiln_session *s;
    kiln_sampler *smp;
    int32_t n_vocab, eos, eot;
    int n_predict;
    int verbose;       /* per-turn counts on stderr */
    float *logits;     /* [n_vocab] of the last token fed */
    int32_t *hist;     /* every token fed, for the repetition penalty */
    size_t n_hist, cap_hist;
    text kv_text;      /* the text of the tokens in the KV cache */
    conversation conv;
} chat;

static int hist_push(chat *c, const int32_t *ids, size_t n)
{
    if (c->n_hist + n > c->cap_hist) {
        size_t cap = c->cap_hist ? c->cap_hist : 1024;
        while (cap < c->n_hist + n) cap *= 2;
        int32_t *h = realloc(c->hist, cap * sizeof *h);
        if (!h) return -1;
        c->hist = h, c->cap_hist = cap;
    }
    memcpy(c->hist + c->n_hist, ids, n * sizeof *ids);
    c->n_hist += n;
    return 0;
}

/* Feeds the rendering's new text to the model (everything when the cache
 * holds something else). Returns 0, 1 on error (printed), 2 when the
 * conversation no longer fits the context. */
static int feed_turn(chat *c)
{
    char *full = NULL;
    size_t full_len = 0;
    if (kiln_chat_render(c->tmpl, c->conv.msgs, c->conv.n, 1, &full, &full_len)) {
        fprintf(stderr, "kiln %s: %s\n", c->cmd, kiln_last_error());
        return 1;
    }
    if (c->kv_text.n > full_len || (c->kv_text.n && memcmp(full, c->kv_text.p, c->kv_text.n) != 0)) {
        kiln_session_reset(c->s);
        c->kv_text.n = 0, c->n_hist = 0;
    }
    const char *delta = full + c->kv_text.n;
    size_t delta_len = full_len - c->kv_text.n;
    int32_t *ids = NULL;
    size_t n = 0;
    int add_bos = c->kv_text.n == 0 && kiln_tokenizer_adds_bos(c->tok);
    int rc = 1;
    if (kiln_tokenize(c->tok, delta, delta_len, add_bos, 1, &ids, &n)) {
        fprintf(stderr, "kiln %s: %s\n", c->cmd, kiln_last_error());
        goto done;
    }
    if (n == 0) { /* nothing new to say (an empty generation prompt): the last logits stand */
        rc = 0;
        goto done;
    }
    if ((size_t)kiln_session_pos(c->s) + n + 1 > (size_t)kiln_session_capacity(c->s)) {
        rc = 2;
        goto done;
    }
    if (kiln_session_forward(c->s, ids, n, c->logits) || hist_push(c, ids, n) || text_put(&c->kv_text, delta, delta_len)) {
        fprintf(stderr, "kiln %s: %s\n", c->cmd, kiln_last_error());
        goto done;
    }
    if (c->verbose)
        fprintf(stderr, "[kiln chat: %zu new tokens prefilled, %d in the cache]\n", n, kiln_session_pos(c->s));
    rc = 0;
done:
    free(ids);
    free(full);
    return rc;
}

/* Generates the reply, streaming it; appends it to the conversation. */
static int reply(chat *c)
{
    text said = {0};
    int rc = 0;
    interrupted = 0;
    for (int k = 0; k < c->n_predict && !interrupted; k++) {
        int32_t next = kiln_sampler_sample(c->smp, c->logits, c->hist, c->n_hist);
        if (next == c->eos || next == c->eot) break;
        char piece[256];
        int len = kiln_token_to_text(c->tok, next, 0, piece, sizeof piece);
        if (len > (int)sizeof piece) len = (int)sizeof piece;
        if (len > 0) {
            fwrite(piece, 1, (size_t)len, stdout);
            fflush(stdout);
            if (text_put(&said, piece, (size_t)len)) break;
        }
        /* The sampled token goes into the cache only if the reply goes on. */
        if (k + 1 == c->n_predict || kiln_session_pos(c->s) + 1 >= kiln_session_capacity(c->s)) break;
        if (kiln_session_forward(c->s, &next, 1, c->logits) || hist_push(c, &next, 1) ||
            (len > 0 && text_put(&c->kv_text, piece, (size_t)len))) {
            fprintf(stderr, "\nkiln %s: %s\n", c->cmd, kiln_last_error());
            rc = 1;
            break;
        }
    }
    if (interrupted) printf(" [stopped]");
    printf("\n");
    fflush(stdout);
    if (conv_push(&c->conv, KILN_CHAT_ASSISTANT, said.p ? said.p : "", said.n)) rc = 1;
    free(said.p);
    interrupted = 0;
    return rc;
}

/* One line from stdin without its newline; NULL at end of input. Ctrl-C at
 * the prompt gives back an empty line (a reminder is printed). */
/* Waits until stdin has input or Ctrl-C came; 1 when interrupted. SIGINT is
 * blocked outside ppoll, which unblocks it atomically while it waits: a
 * Ctrl-C between the prompt and the read cannot be lost (a plain blocking
 * read would miss one that lands just before it). stdin is unbuffered (see
 * kiln_cmd_chat), so no typed line can sit in stdio unseen by poll. */
static int wait_for_input(void)
{
    sigset_t block, orig;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigprocmask(SIG_BLOCK, &block, &orig);
    if (!interrupted) {
        struct pollfd in = {.fd = 0, .events = POLLIN};
        ppoll(&in, 1, NULL, &orig);
    }
    sigprocmask(SIG_SETMASK, &orig, NULL);
    return interrupted;
}

static char *read_line(char **buf, size_t *cap)
{
    for (;;) {
        errno = 0;
        ssize_t n = wait_for_input() ? -1 : getline(buf, cap, stdin);
        if (n >= 0) {
            while (n > 0 && ((*buf)[n - 1] == '\n' || (*buf)[n - 1] == '\r')) (*buf)[--n] = 0;
            return *buf;
        }
        if (errno == EINTR || interrupted) {
            clearerr(stdin);
            interrupted = 0;
            printf("\n(/exit or Ctrl-D leaves)\n> ");
            fflush(stdout);
            continue;
        }
        return NULL;
    }
}

static int chat_loop(chat *c, const char *system)
{
    size_t keep = 0; /* messages kept when the context fills: the system message */
    if (system) {
        if (conv_push(&c->conv, KILN_CHAT_SYSTEM, system, strlen(system))) return 1;
        keep = 1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    for (;;) {
        printf("> ");
        fflush(stdout);
        if (!read_line(&line, &cap) || !strcmp(line, "/exit")) break;
        if (!*line) continue;
        if (conv_push(&c->conv, KILN_CHAT_USER, line, strlen(line))) {
            rc = 1;
            break;
        }
        int fed = feed_turn(c);
        if (fed == 2) { /* full: forget the earlier turns (not the system message) and try once more */
            fprintf(stderr, "kiln %s: the conversation no longer fits the context (%d tokens); earlier turns are dropped\n",
                    c->cmd, kiln_session_capacity(c->s));
            kiln_chat_msg last = c->conv.msgs[c->conv.n - 1];
            c->conv.n--;
            conv_truncate(&c->conv, keep);
            c->conv.msgs[c->conv.n++] = last;
            fed = feed_turn(c);
            if (fed == 2) {
                fprintf(stderr, "kiln %s: this message alone does not fit the context; say less or raise --ctx\n", c->cmd);
                conv_truncate(&c->conv, keep);
                continue;
            }
        }
        if (fed || reply(c)) {
            rc = 1;
            break;
        }
    }
    free(line);
    return rc;
}

int kiln_cmd_chat(int argc, char **argv)
{
    model_flags f;
    model_flags_init(&f);
    const char *system = NULL;
    int n_predict = 512, verbose = 0;
    for (int i = 1; i < argc; i++) {
        int r = model_flags_parse(&f, "chat", argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
            verbose = 1;
        } else if ((!strcmp(a, "--system") || !strcmp(a, "-sys") || !strcmp(a, "--system-prompt")) && i + 1 < argc) {
            system = argv[++i];
        } else if ((!strcmp(a, "-n") || !strcmp(a, "--n-predict")) && i + 1 < argc) {
            if (kiln_arg_i32("kiln chat", a, argv[++i], 1, 1 << 24, &n_predict)) return 2;
        } else {
            fprintf(stderr, "kiln chat: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!f.model) {
        fprintf(stderr, "kiln chat: -m MODEL is required\n\n");
        usage(stderr);
        return 2;
    }
    if (!f.seed_given) f.sp.seed = (uint64_t)time(NULL);

    chat c = {.cmd = "chat", .n_predict = n_predict, .verbose = verbose};
    kiln_model *m = NULL;
    kiln_context *ctx = NULL;
    int rc = 1;
    if (model_flags_open(&f, "chat", 1, &m, &ctx, &c.s)) goto done;
    if (kiln_chat_template_for_model(m, f.chat_template, &c.tmpl)) {
        fprintf(stderr, "kiln chat: %s\n", kiln_last_error());
        goto done;
    }
    c.tok = kiln_model_tokenizer(m);
    c.n_vocab = kiln_model_get_config(m)->n_vocab;
    c.eos = kiln_tokenizer_eos(c.tok);
    c.eot = kiln_chat_template_stop_id(c.tmpl, c.tok);
    c.logits = malloc((size_t)c.n_vocab * sizeof *c.logits);
    if (!c.logits || kiln_sampler_create(&f.sp, c.n_vocab, &c.smp)) {
        fprintf(stderr, "kiln chat: %s\n", c.logits ? kiln_last_error() : "out of memory");
        goto done;
    }
    fprintf(stderr, "kiln chat: template %s, context %d tokens, seed %llu, temperature %g; /exit or Ctrl-D leaves, Ctrl-C stops a reply\n",
            kiln_chat_template_name(c.tmpl), kiln_session_capacity(c.s), (unsigned long long)f.sp.seed, f.sp.temperature);

    /* No SA_RESTART: Ctrl-C must interrupt a read at the prompt. */
    struct sigaction sa = {0}, old;
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old);
    setvbuf(stdin, NULL, _IONBF, 0);
    rc = chat_loop(&c, system);
    sigaction(SIGINT, &old, NULL);
done:
    conv_truncate(&c.conv, 0);
    free(c.conv.msgs);
    free(c.kv_text.p);
    free(c.hist);
    free(c.logits);
    kiln_sampler_free(c.smp);
    kiln_session_free(c.s);
    kiln_context_destroy(ctx);
    kiln_model_free(m);
    return rc;
}

/* demo/cmd_serve.c — `kiln serve`: an OpenAI-compatible HTTP server with
 * streaming and continuous batching (docs/SERVE.md).
 *
 * Threads: the scheduler (serve_sched.c) owns the session; libmicrohttpd
 * runs one thread per connection (serve_http.c); this one only waits for
 * SIGINT/SIGTERM, blocked everywhere else so that it alone receives them.
 * Shutdown: stop accepting, end every job (streams finish with what they
 * have, within one decode step), close the connections, exit 0. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "demo/args.h"
#include "demo/commands.h"
#include "demo/model_flags.h"
#include "demo/serve_http.h"
#include "demo/serve_sched.h"
#include "runtime/chat_template.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln serve -m MODEL [--host 127.0.0.1] [--port 8080] [--parallel N] [options]\n\n"
               "Serves the model over HTTP with OpenAI's API: POST /v1/chat/completions and /v1/completions\n"
               "(\"stream\": true for Server-Sent Events), GET /v1/models, /health, /metrics (Prometheus).\n"
               "Requests decode together in one continuous batch; more than --parallel wait in line.\n\n"
               "      --host H            address to listen on (default 127.0.0.1)\n"
               "      --port P            port (default 8080; 0 = any free one, printed)\n"
               "      --parallel N        requests decoding at once (default 4)\n"
               "      --api-key KEY       require \"Authorization: Bearer KEY\" (all but /health)\n"
               "      --max-body BYTES    largest request body (default 1048576)\n"
               "      --timeout S         close connections idle for S seconds (default 30)\n"
               "      --no-prefix-cache   recompute every prompt (default: full KV blocks of equal\n"
               "                          prompt prefixes are shared and kept)\n"
               "      --lookup N          speculative decoding by prompt lookup (n-grams up to N): each\n"
               "                          request proposes up to --draft-max tokens per step, one pass\n"
               "                          checks them all (same greedy text, same sampled distribution)\n"
               "      --draft-max K       proposals per request and step (default 8)\n"
               "  the context (--ctx) is per request; the KV cache holds --parallel of them\n");
    model_flags_usage(f);
}

static const char *basename_of(const char *path)
{
    const char *b = strrchr(path, '/');
    return b ? b + 1 : path;
}

int kiln_cmd_serve(int argc, char **argv)
{
    model_flags f;
    model_flags_init(&f);
    serve_http_options ho = {.host = "127.0.0.1", .port = 8080, .max_body = 1 << 20, .timeout_s = 30,
                             .max_connections = 1024};
    int parallel = 4, prefix_cache = 1, max_body = 1 << 20, lookup = 0, draft_max = 8;
    for (int i = 1; i < argc; i++) {
        int r = model_flags_parse(&f, "serve", argc, argv, &i);
        if (r < 0) return 2;
        if (r) continue;
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--no-prefix-cache")) {
            prefix_cache = 0;
        } else if (!strcmp(a, "--host") && v) {
            ho.host = v, i++;
        } else if (!strcmp(a, "--api-key") && v) {
            ho.api_key = v, i++;
        } else if (!strcmp(a, "--port") && v) {
            if (kiln_arg_i32("kiln serve", a, argv[++i], 0, 65535, &ho.port)) return 2;
        } else if (!strcmp(a, "--parallel") && v) {
            if (kiln_arg_i32("kiln serve", a, argv[++i], 1, 256, &parallel)) return 2;
        } else if (!strcmp(a, "--lookup") && v) {
            if (kiln_arg_i32("kiln serve", a, argv[++i], 1, 64, &lookup)) return 2;
        } else if (!strcmp(a, "--draft-max") && v) {
            if (kiln_arg_i32("kiln serve", a, argv[++i], 1, 64, &draft_max)) return 2;
        } else if (!strcmp(a, "--max-body") && v) {
            if (kiln_arg_i32("kiln serve", a, argv[++i], 64, 1 << 30, &max_body)) return 2;
        } else if (!strcmp(a, "--timeout") && v) {
            if (kiln_arg_i32("kiln serve", a, argv[++i], 1, 3600, &ho.timeout_s)) return 2;
        } else {
            fprintf(stderr, "kiln serve: unknown or incomplete option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!f.model) {
        fprintf(stderr, "kiln serve: -m MODEL is required\n\n");
        usage(stderr);
        return 2;
    }
    ho.max_body = (size_t)max_body;

    /* Signals go to this thread only: block them before any thread starts. */
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-write is an error return, not a death */

    kiln_model *m = NULL;
    kiln_context *ctx = NULL;
    kiln_session *s = NULL;
    serve_sched *S = NULL;
    serve_http *h = NULL;
    int rc = 1;
    if (model_flags_open(&f, "serve", parallel, &m, &ctx, &s)) goto done;
    serve_model_info mi = {.name = basename_of(f.model), .defaults = f.sp};
    if (kiln_chat_template_for_model(m, f.chat_template, &mi.tmpl))
        fprintf(stderr, "kiln serve: %s; /v1/chat/completions is refused, /v1/completions works\n", kiln_last_error());
    serve_sched_options so = {.parallel = parallel, .prefix_cache = prefix_cache, .lookup = lookup, .draft_max = draft_max,
                              .eot = mi.tmpl ? kiln_chat_template_stop_id(mi.tmpl, kiln_model_tokenizer(m)) : -1};
    if (serve_sched_start(s, m, &so, &S)) {
        fprintf(stderr, "kiln serve: %s\n", kiln_last_error());
        goto done;
    }
    ho.capacity = kiln_session_capacity(s);
    int port = 0;
    if (serve_http_start(&ho, S, m, &mi, &h, &port)) goto done;
    fprintf(stderr, "kiln serve: %s on %s, %d parallel, context %d, chat template %s, prefix cache %s", mi.name,
            f.device, parallel, ho.capacity, mi.tmpl ? kiln_chat_template_name(mi.tmpl) : "none",
            prefix_cache ? "on" : "off");
    if (lookup) fprintf(stderr, ", prompt lookup %d (up to %d proposals)", lookup, draft_max);
    fprintf(stderr, "\n");
    fprintf(stderr, "kiln serve: listening on http://%s:%d\n", ho.host, port);
    fflush(stderr);

    int sig = 0;
    sigwait(&sigs, &sig);
    fprintf(stderr, "kiln serve: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    serve_http_quiesce(h);
    serve_sched_stop(S);      /* every job ends: handlers and streams finish */
    serve_http_drain(h, 10);  /* ... and send what they have left */
    serve_http_stop(h);       /* joins the connection threads */
    h = NULL;
    rc = 0;
done:
    serve_http_stop(h);
    serve_sched_free(S);
    kiln_session_free(s);
    kiln_context_destroy(ctx);
    kiln_model_free(m);
    return rc;
}

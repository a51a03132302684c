/* demo/serve_http.c — the HTTP side of `kiln serve` on libmicrohttpd.
 *
 * One thread per connection (MHD_USE_THREAD_PER_CONNECTION): a handler may
 * block waiting for its job without holding up anyone else. A body is
 * collected up to max_body; a larger Content-Length is refused (413) before
 * any of the body is read, and a body that grows past the limit without one
 * is dropped as it comes and refused at its end. Streams are MHD responses
 * from a callback that blocks until the job has new text, and sends it as
 * OpenAI's `data: {chunk}` events, then `data: [DONE]`. When the client goes
 * away MHD frees the stream, which cancels the job. */
#include "demo/serve_http.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct serve_http {
    struct MHD_Daemon *d;
    serve_sched *S;
    const kiln_model *m;
    const kiln_tokenizer *tok;
    serve_model_info mi;
    serve_http_options o;
    int32_t capacity;
    atomic_ulong next_id;
    atomic_int in_flight;   /* requests begun and not yet answered in full */
    long started;
};

/* Per connection: the body as it arrives. */
typedef struct conn_state {
    char *body;
    size_t n, cap;
    int too_large;
} conn_state;

/* -------------------------------------------------------------- replies */

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type, char *text)
{
    if (!text) {
        status = MHD_HTTP_INTERNAL_SERVER_ERROR, type = "text/plain";
        text = strdup("out of memory");
        if (!text) return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!r) {
        free(text);
        return MHD_NO;
    }
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result reply_error(struct MHD_Connection *c, int status, const char *type, const char *param,
                                   const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static enum MHD_Result reply_error(struct MHD_Connection *c, int status, const char *type, const char *param,
                                   const char *fmt, ...)
{
    serve_error e = {.http = status, .type = type, .param = param};
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e.message, sizeof e.message, fmt, ap);
    va_end(ap);
    return reply(c, (unsigned)status, "application/json", serve_json_error(&e));
}

/* --------------------------------------------------------------- streams */

typedef struct stream {
    serve_http *h;
    serve_job *job;
    serve_kind kind;
    char id[32];
    size_t from;          /* text bytes sent so far */
    int sent_first, ended;
    char *out;            /* SSE bytes waiting to go out */
    size_t out_len, out_off;
} stream;

static int out_event(stream *st, char *json)
{
    if (!json) return -1;
    size_t len = strlen(json), need = st->out_len + len + 9; /* "data: " json "\n\n" NUL */
    char *o = realloc(st->out, need);
    if (!o) {
        free(json);
        return -1;
    }
    st->out = o;
    st->out_len += (size_t)sprintf(st->out + st->out_len, "data: %s\n\n", json);
    free(json);
    return 0;
}

/* Fills st->out with the next events, waiting for the job if need be. */
static void stream_refill(stream *st)
{
    serve_http *h = st->h;
    st->out_len = st->out_off = 0;
    if (!st->sent_first && st->kind == SERVE_CHAT) { /* the message opens with its role */
        st->sent_first = 1;
        out_event(st, serve_json_chunk(st->kind, st->id, h->started, h->mi.name, "", 0, 1, NULL, 0, 0));
        return;
    }
    char *text = NULL;
    size_t len = 0;
    serve_job_view v = serve_job_wait(st->job, st->from, 1.0, 1, &text, &len);
    if (len) {
        out_event(st, serve_json_chunk(st->kind, st->id, h->started, h->mi.name, text, len, 0, NULL, 0, 0));
        st->from += len;
    }
    free(text);
    if (v.done && st->from >= v.published) {
        if (v.error[0]) {
            serve_error e = {.http = 500, .type = "server_error"};
            snprintf(e.message, sizeof e.message, "%s", v.error);
            out_event(st, serve_json_error(&e));
        }
        out_event(st, serve_json_chunk(st->kind, st->id, h->started, h->mi.name, "", 0, 0, v.finish ? v.finish : "stop",
                                       v.prompt_tokens, v.completion_tokens));
        char *done = strdup("[DONE]");
        out_event(st, done);
        st->ended = 1;
    }
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    (void)pos;
    stream *st = cls;
    while (st->out_off == st->out_len) {
        if (st->ended) return MHD_CONTENT_READER_END_OF_STREAM;
        stream_refill(st);
    }
    size_t n = st->out_len - st->out_off < max ? st->out_len - st->out_off : max;
    memcpy(buf, st->out + st->out_off, n);
    st->out_off += n;
    return (ssize_t)n;
}

/* MHD is done with the stream: finished, or the client went away. */
static void stream_free(void *cls)
{
    stream *st = cls;
    serve_job_cancel(st->job);
    serve_job_release(st->job);
    free(st->out);
    free(st);
}

/* ------------------------------------------------------------ generation */

/* Whether the client of a request being answered (not streamed) has closed
 * its connection: a read that would not block and returns 0. */
static int client_gone(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return 0;
    char b;
    return recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) == 0;
}

static enum MHD_Result generate(serve_http *h, struct MHD_Connection *c, serve_kind kind, const conn_state *cs)
{
    serve_params p;
    serve_error e;
    if (serve_parse_request(kind, cs->body ? cs->body : "", cs->n, &h->mi, &p, &e))
        return reply(c, (unsigned)e.http, "application/json", serve_json_error(&e));
    int32_t *ids = NULL;
    size_t n = 0;
    enum MHD_Result ret;
    if (kiln_tokenize(h->tok, p.prompt, strlen(p.prompt), kiln_tokenizer_adds_bos(h->tok), 1, &ids, &n)) {
        ret = reply_error(c, 400, "invalid_request_error", kind == SERVE_CHAT ? "messages" : "prompt", "%s",
                          kiln_last_error());
        goto done;
    }
    if (n == 0) {
        ret = reply_error(c, 400, "invalid_request_error", "prompt", "the prompt is empty (no tokens)");
        goto done;
    }
    if (n + 1 > (size_t)h->capacity) {
        ret = reply_error(c, 400, "invalid_request_error", kind == SERVE_CHAT ? "messages" : "prompt",
                          "the prompt has %zu tokens; the context holds %d, and one must be left for the reply "
                          "(restart kiln serve with a larger --ctx)",
                          n, h->capacity);
        goto done;
    }
    int room = h->capacity - (int)n;
    int max_tokens = p.max_tokens > 0 && p.max_tokens < room ? p.max_tokens : room;
    if (!p.seed_given) p.sp.seed = (uint64_t)time(NULL) ^ ((uint64_t)atomic_load(&h->next_id) << 32);
    serve_job *job = serve_job_new(ids, (int)n, max_tokens, &p.sp, p.stop, p.n_stop, p.ignore_eos);
    if (!job) {
        ret = reply_error(c, 500, "server_error", NULL, "out of memory");
        goto done;
    }
    if (serve_sched_submit(h->S, job)) {
        serve_job_release(job);
        ret = reply_error(c, 503, "server_error", NULL, "the server is shutting down");
        goto done;
    }
    char id[32];
    snprintf(id, sizeof id, "%s-%lu", kind == SERVE_CHAT ? "chatcmpl" : "cmpl", (unsigned long)atomic_fetch_add(&h->next_id, 1));
    if (p.stream) {
        stream *st = calloc(1, sizeof *st);
        struct MHD_Response *r = st ? MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 4096, stream_read, st, stream_free) : NULL;
        if (!r) {
            free(st);
            serve_job_cancel(job);
            serve_job_release(job);
            ret = reply_error(c, 500, "server_error", NULL, "out of memory");
            goto done;
        }
        st->h = h, st->job = job, st->kind = kind;
        snprintf(st->id, sizeof st->id, "%s", id);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        ret = MHD_queue_response(c, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        goto done;
    }
    /* Not streamed: wait for the whole reply (the job is cancelled if the
     * client leaves meanwhile). */
    char *text = NULL, *chunk;
    size_t len = 0, clen;
    serve_job_view v;
    do {
        v = serve_job_wait(job, len, 0.25, 0, &chunk, &clen);
        if (clen) {
            char *t = realloc(text, len + clen);
            if (t) memcpy(t + len, chunk, clen), text = t, len += clen;
        }
        free(chunk);
        if (!v.done && client_gone(c)) serve_job_cancel(job);
    } while (!v.done);
    if (v.error[0]) ret = reply_error(c, 500, "server_error", NULL, "%s", v.error);
    else
        ret = reply(c, MHD_HTTP_OK, "application/json",
                    serve_json_response(kind, id, h->started, h->mi.name, text ? text : "", len, v.finish,
                                        v.prompt_tokens, v.completion_tokens));
    free(text);
    serve_job_release(job);
done:
    free(ids);
    serve_params_free(&p);
    return ret;
}

/* --------------------------------------------------------------- routes */

static enum MHD_Result metrics(serve_http *h, struct MHD_Connection *c)
{
    serve_stats st = serve_sched_stats(h->S);
    char *t = malloc(2048);
    if (!t) return reply(c, 500, "text/plain", NULL);
    snprintf(t, 2048,
             "# HELP kiln_requests_total Generation requests accepted.\n# TYPE kiln_requests_total counter\n"
             "kiln_requests_total %llu\n"
             "# HELP kiln_prompt_tokens_total Prompt tokens of admitted requests.\n# TYPE kiln_prompt_tokens_total counter\n"
             "kiln_prompt_tokens_total %llu\n"
             "# HELP kiln_prompt_tokens_cached_total Prompt tokens taken from the prefix cache.\n"
             "# TYPE kiln_prompt_tokens_cached_total counter\nkiln_prompt_tokens_cached_total %llu\n"
             "# HELP kiln_generated_tokens_total Tokens generated.\n# TYPE kiln_generated_tokens_total counter\n"
             "kiln_generated_tokens_total %llu\n"
             "# HELP kiln_requests_queued Requests waiting for a sequence.\n# TYPE kiln_requests_queued gauge\n"
             "kiln_requests_queued %d\n"
             "# HELP kiln_requests_running Requests decoding.\n# TYPE kiln_requests_running gauge\n"
             "kiln_requests_running %d\n"
             "# HELP kiln_kv_blocks_used KV cache blocks held by sequences.\n# TYPE kiln_kv_blocks_used gauge\n"
             "kiln_kv_blocks_used %d\n"
             "# HELP kiln_kv_blocks_cached Idle KV blocks kept for their prefix.\n# TYPE kiln_kv_blocks_cached gauge\n"
             "kiln_kv_blocks_cached %d\n"
             "# HELP kiln_kv_blocks_total KV cache blocks.\n# TYPE kiln_kv_blocks_total gauge\n"
             "kiln_kv_blocks_total %d\n",
             (unsigned long long)st.requests, (unsigned long long)st.prompt_tokens,
             (unsigned long long)st.prefix_hit_tokens, (unsigned long long)st.generated_tokens, st.queued, st.running,
             st.kv_blocks_used, st.kv_blocks_cached, st.kv_blocks_total);
    return reply(c, MHD_HTTP_OK, "text/plain; version=0.0.4", t);
}

static int authorized(const serve_http *h, struct MHD_Connection *c)
{
    if (!h->o.api_key) return 1;
    const char *auth = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!auth || strncmp(auth, "Bearer ", 7)) return 0;
    /* compared in full whatever matches, so the time taken tells nothing */
    const char *given = auth + 7, *key = h->o.api_key;
    size_t gl = strlen(given), kl = strlen(key);
    unsigned diff = gl != kl;
    for (size_t i = 0; i < kl; i++) diff |= (unsigned)(key[i] ^ (i < gl ? given[i] : 0));
    return diff == 0;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    serve_http *h = cls;
    conn_state *cs = *con_cls;
    if (!cs) { /* headers are in, the body (if any) is not */
        if (!(cs = calloc(1, sizeof *cs))) return MHD_NO;
        *con_cls = cs;
        atomic_fetch_add(&h->in_flight, 1);
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl) {
            char *end;
            unsigned long long v = strtoull(cl, &end, 10);
            if (end == cl || *end || v > h->o.max_body)
                return reply_error(c, 413, "invalid_request_error", NULL, "the body may be at most %zu bytes",
                                   h->o.max_body);
        }
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (cs->too_large || cs->n + n > h->o.max_body) {
            cs->too_large = 1;
            return MHD_YES;
        }
        if (cs->n + n > cs->cap) {
            size_t cap = cs->cap ? cs->cap : 4096;
            while (cap < cs->n + n) cap *= 2;
            char *b = realloc(cs->body, cap);
            if (!b) return MHD_NO;
            cs->body = b, cs->cap = cap;
        }
        memcpy(cs->body + cs->n, upload, n);
        cs->n += n;
        return MHD_YES;
    }
    if (cs->too_large)
        return reply_error(c, 413, "invalid_request_error", NULL, "the body may be at most %zu bytes", h->o.max_body);
    int get = !strcmp(method, MHD_HTTP_METHOD_GET), post = !strcmp(method, MHD_HTTP_METHOD_POST);
    if (!strcmp(url, "/health")) return reply(c, MHD_HTTP_OK, "application/json", strdup("{\"status\":\"ok\"}"));
    if (!authorized(h, c))
        return reply_error(c, 401, "authentication_error", NULL, "a valid API key is needed (Authorization: Bearer KEY)");
    static const struct {
        const char *url;
        int post;
    } routes[] = {{"/v1/chat/completions", 1}, {"/v1/completions", 1}, {"/v1/models", 0}, {"/metrics", 0}};
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(url, routes[i].url)) continue;
        if (routes[i].post ? !post : !get)
            return reply_error(c, 405, "invalid_request_error", NULL, "%s takes %s", url, routes[i].post ? "POST" : "GET");
        switch (i) {
        case 0: return generate(h, c, SERVE_CHAT, cs);
        case 1: return generate(h, c, SERVE_COMPLETION, cs);
        case 2: return reply(c, MHD_HTTP_OK, "application/json", serve_json_models(h->mi.name, h->started));
        default: return metrics(h, c);
        }
    }
    return reply_error(c, 404, "not_found_error", NULL, "no such endpoint: %.200s", url);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    serve_http *h = cls;
    conn_state *cs = *con_cls;
    if (cs) {
        free(cs->body), free(cs);
        atomic_fetch_sub(&h->in_flight, 1);
    }
    *con_cls = NULL;
}

/* ---------------------------------------------------------------- server */

int serve_http_start(const serve_http_options *o, serve_sched *S, const kiln_model *m, const serve_model_info *mi,
                     serve_http **out, int *port_out)
{
    struct addrinfo hints = {.ai_family = AF_INET, .ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(o->host, NULL, &hints, &ai) || !ai) {
        fprintf(stderr, "kiln serve: cannot resolve --host %s to an IPv4 address\n", o->host);
        return 1;
    }
    struct sockaddr_in addr;
    memcpy(&addr, ai->ai_addr, sizeof addr);
    freeaddrinfo(ai);
    addr.sin_port = htons((uint16_t)o->port);
    serve_http *h = calloc(1, sizeof *h);
    if (!h) return 1;
    h->S = S, h->m = m, h->tok = kiln_model_tokenizer(m), h->mi = *mi, h->o = *o;
    h->started = (long)time(NULL);
    atomic_init(&h->next_id, 1);
    h->capacity = o->capacity;
    h->d = MHD_start_daemon(MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ITC |
                                MHD_USE_ERROR_LOG,
                            0, NULL, NULL, on_request, h, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s, MHD_OPTION_CONNECTION_LIMIT,
                            (unsigned)o->max_connections, MHD_OPTION_NOTIFY_COMPLETED, on_completed, h,
                            MHD_OPTION_END);
    if (!h->d) {
        fprintf(stderr, "kiln serve: cannot listen on %s:%d (in use, or not an address of this machine?)\n", o->host,
                o->port);
        free(h);
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(h->d, MHD_DAEMON_INFO_BIND_PORT);
    *port_out = info ? info->port : o->port;
    *out = h;
    return 0;
}

void serve_http_quiesce(serve_http *h)
{
    if (!h || !h->d) return;
    MHD_socket fd = MHD_quiesce_daemon(h->d); /* the listening socket is ours to close now */
    if (fd != MHD_INVALID_SOCKET) close(fd);
}

void serve_http_drain(serve_http *h, double timeout_s)
{
    for (double waited = 0; h && atomic_load(&h->in_flight) > 0 && waited < timeout_s; waited += 0.02) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

void serve_http_stop(serve_http *h)
{
    if (!h) return;
    if (h->d) MHD_stop_daemon(h->d);
    free(h);
}

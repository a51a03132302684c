/* demo/serve_json.c — OpenAI request bodies in, responses out (jansson).
 *
 * Requests: `messages` (chat) or `prompt` (completion), `max_tokens` (or
 * `max_completion_tokens`), `temperature`, `top_p`, `top_k`, `min_p`,
 * `seed`, `stop` (a string or up to 4), `stream`, `n` (1 only), `model`, and
 * llama-server's `ignore_eos` (benchmarks send it to fix the output length).
 * Fields kiln does not know are ignored, as OpenAI's clients send many; a
 * known field of the wrong type or out of range is a 400 naming it. */
#include "demo/serve_json.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/unicode.h"

static int fail(serve_error *e, int http, const char *param, const char *fmt, ...)
{
    e->http = http;
    e->type = http == 404 ? "not_found_error" : http == 401 ? "authentication_error" : "invalid_request_error";
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}

/* A number field into [lo, hi]; absent leaves *out. */
static int get_number(json_t *o, const char *key, double lo, double hi, double *out, serve_error *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_number(v)) return fail(e, 400, key, "'%s' must be a number", key);
    double x = json_number_value(v);
    if (!isfinite(x) || x < lo || x > hi) return fail(e, 400, key, "'%s' must be between %g and %g", key, lo, hi);
    *out = x;
    return 0;
}

static int get_int(json_t *o, const char *key, long long lo, long long hi, long long *out, serve_error *e)
{
    json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_integer(v)) return fail(e, 400, key, "'%s' must be an integer", key);
    long long x = json_integer_value(v);
    if (x < lo || x > hi) return fail(e, 400, key, "'%s' must be between %lld and %lld", key, lo, hi);
    *out = x;
    return 0;
}

/* A JSON string as a C string: refused when it holds a NUL byte. */
static char *dup_string(json_t *v, const char *what, serve_error *e)
{
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (memchr(s, 0, n)) {
        fail(e, 400, what, "'%s' contains a NUL character", what);
        return NULL;
    }
    char *d = malloc(n + 1);
    if (!d) {
        fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    memcpy(d, s, n + 1);
    return d;
}

/* A message's content: a string, or an array of {"type":"text","text":...} parts. */
static char *message_content(json_t *c, size_t i, serve_error *e)
{
    if (json_is_string(c)) return dup_string(c, "messages", e);
    if (!json_is_array(c)) {
        fail(e, 400, "messages", "messages[%zu].content must be a string or an array of text parts", i);
        return NULL;
    }
    size_t total = 0, k;
    json_t *part;
    json_array_foreach(c, k, part) {
        json_t *type = json_object_get(part, "type"), *text = json_object_get(part, "text");
        if (!json_is_string(type) || strcmp(json_string_value(type), "text") || !json_is_string(text)) {
            fail(e, 400, "messages", "messages[%zu].content[%zu] is not a text part (only text is supported)", i, k);
            return NULL;
        }
        total += json_string_length(text);
    }
    char *d = malloc(total + 1), *w = d;
    if (!d) {
        fail(e, 500, NULL, "out of memory");
        return NULL;
    }
    json_array_foreach(c, k, part) {
        json_t *text = json_object_get(part, "text");
        memcpy(w, json_string_value(text), json_string_length(text));
        w += json_string_length(text);
    }
    *w = 0;
    if (strlen(d) != total) {
        free(d);
        fail(e, 400, "messages", "messages[%zu].content contains a NUL character", i);
        return NULL;
    }
    return d;
}

static int parse_messages(json_t *root, const serve_model_info *mi, serve_params *p, serve_error *e)
{
    json_t *msgs = json_object_get(root, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return fail(e, 400, "messages", "'messages' must be a non-empty array");
    if (!mi->tmpl)
        return fail(e, 400, "messages", "the model has no chat template kiln recognises; use /v1/completions, or restart kiln serve with --chat-template NAME");
    size_t n = json_array_size(msgs), i;
    kiln_chat_msg *cm = calloc(n, sizeof *cm);
    if (!cm) return fail(e, 500, NULL, "out of memory");
    int rc = 0;
    json_t *m;
    json_array_foreach(msgs, i, m) {
        json_t *role = json_object_get(m, "role");
        int r = json_is_string(role) ? kiln_chat_role_from_name(json_string_value(role)) : -1;
        if (r < 0) {
            rc = fail(e, 400, "messages", "messages[%zu].role must be \"system\", \"user\" or \"assistant\"", i);
            break;
        }
        json_t *content = json_object_get(m, "content");
        char *text = content && !json_is_null(content) ? message_content(content, i, e) : calloc(1, 1);
        if (!text) {
            rc = content && !json_is_null(content) ? -1 : fail(e, 500, NULL, "out of memory");
            break;
        }
        cm[i] = (kiln_chat_msg){(kiln_chat_role)r, text};
    }
    if (rc == 0 && kiln_chat_render(mi->tmpl, cm, n, 1, &p->prompt, NULL) != KILN_OK)
        rc = fail(e, 500, NULL, "%s", kiln_last_error());
    for (i = 0; i < n; i++) free((char *)cm[i].content);
    free(cm);
    return rc;
}

static int parse_stop(json_t *root, serve_params *p, serve_error *e)
{
    json_t *stop = json_object_get(root, "stop");
    if (!stop || json_is_null(stop)) return 0;
    if (json_is_string(stop)) {
        if (json_string_length(stop) == 0) return 0;
        return (p->stop[p->n_stop++] = dup_string(stop, "stop", e)) ? 0 : -1;
    }
    if (!json_is_array(stop)) return fail(e, 400, "stop", "'stop' must be a string or an array of strings");
    if (json_array_size(stop) > SERVE_MAX_STOP) return fail(e, 400, "stop", "'stop' takes at most %d strings", SERVE_MAX_STOP);
    size_t i;
    json_t *s;
    json_array_foreach(stop, i, s) {
        if (!json_is_string(s)) return fail(e, 400, "stop", "stop[%zu] must be a string", i);
        if (json_string_length(s) == 0) continue;
        if (!(p->stop[p->n_stop++] = dup_string(s, "stop", e))) return -1;
    }
    return 0;
}

/* An optional boolean field: absent or null leaves *out as it is. */
static int get_bool(json_t *root, const char *key, int *out, serve_error *e)
{
    json_t *v = json_object_get(root, key);
    if (!v || json_is_null(v)) return 0;
    if (!json_is_boolean(v)) {
        fail(e, 400, key, "'%s' must be true or false", key);
        return -1;
    }
    *out = json_is_true(v);
    return 0;
}

int serve_parse_request(serve_kind kind, const char *body, size_t len, const serve_model_info *mi, serve_params *p,
                        serve_error *e)
{
    memset(p, 0, sizeof *p);
    p->kind = kind;
    p->sp = mi->defaults;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return fail(e, 400, NULL, "the body is not valid JSON: %s (at byte %d)", jerr.text, jerr.position);
    int rc = -1;
    double d;
    long long ll;
    if (!json_is_object(root)) {
        fail(e, 400, NULL, "the body must be a JSON object");
        goto done;
    }
    json_t *model = json_object_get(root, "model");
    if (model && !json_is_null(model)) {
        if (!json_is_string(model)) {
            fail(e, 400, "model", "'model' must be a string");
            goto done;
        }
        if (strcmp(json_string_value(model), mi->name) != 0) {
            fail(e, 404, "model", "the model '%.100s' does not exist; this server has '%.100s'", json_string_value(model),
                 mi->name);
            goto done;
        }
    }
    if (kind == SERVE_CHAT) {
        if (parse_messages(root, mi, p, e)) goto done;
    } else {
        json_t *prompt = json_object_get(root, "prompt");
        if (json_is_array(prompt) && json_array_size(prompt) == 1) prompt = json_array_get(prompt, 0);
        if (!json_is_string(prompt)) {
            fail(e, 400, "prompt", "'prompt' must be a string (or an array of one string)");
            goto done;
        }
        if (!(p->prompt = dup_string(prompt, "prompt", e))) goto done;
    }
    ll = 0;
    if (get_int(root, "max_tokens", 1, SERVE_MAX_TOKENS_LIMIT, &ll, e) ||
        get_int(root, "max_completion_tokens", 1, SERVE_MAX_TOKENS_LIMIT, &ll, e))
        goto done;
    p->max_tokens = (int)ll;
    ll = 1;
    if (get_int(root, "n", 1, 1, &ll, e)) goto done;
    d = p->sp.temperature;
    if (get_number(root, "temperature", 0, 2, &d, e)) goto done;
    p->sp.temperature = (float)d;
    d = p->sp.top_p;
    if (get_number(root, "top_p", 0, 1, &d, e)) goto done;
    p->sp.top_p = (float)d;
    d = p->sp.min_p;
    if (get_number(root, "min_p", 0, 1, &d, e)) goto done;
    p->sp.min_p = (float)d;
    ll = p->sp.top_k;
    if (get_int(root, "top_k", 0, 1 << 30, &ll, e)) goto done;
    p->sp.top_k = (int32_t)ll;
    ll = -1;
    if (get_int(root, "seed", INT64_MIN, INT64_MAX, &ll, e)) goto done;
    if (json_object_get(root, "seed") && !json_is_null(json_object_get(root, "seed")))
        p->sp.seed = (uint64_t)ll, p->seed_given = 1;
    if (get_bool(root, "stream", &p->stream, e) || get_bool(root, "ignore_eos", &p->ignore_eos, e)) goto done;
    if (parse_stop(root, p, e)) goto done;
    rc = 0;
done:
    json_decref(root);
    if (rc) serve_params_free(p);
    return rc;
}

void serve_params_free(serve_params *p)
{
    free(p->prompt);
    for (int i = 0; i < p->n_stop; i++) free(p->stop[i]);
    memset(p, 0, sizeof *p);
}

/* ------------------------------------------------------------- responses */

/* text as a JSON string; bytes that are no valid UTF-8 become U+FFFD. */
static json_t *text_value(const char *s, size_t n)
{
    char *clean = malloc(n * 3 + 1), *w = clean; /* a bad byte (1) becomes 3 bytes at most */
    if (!clean) return NULL;
    for (size_t i = 0; i < n;) {
        int used;
        uint32_t cp = kiln_utf8_decode(s + i, n - i, &used);
        if (cp >= 0xD800 && cp <= 0xDFFF) cp = 0xFFFD;
        if (cp == 0xFFFD || used == 1) w += kiln_utf8_encode(cp, w); /* re-encoded: never overlong */
        else memcpy(w, s + i, (size_t)used), w += used;
        i += (size_t)used;
    }
    json_t *v = json_stringn(clean, (size_t)(w - clean));
    free(clean);
    return v;
}

static char *dump(json_t *o)
{
    char *s = o ? json_dumps(o, JSON_COMPACT) : NULL;
    json_decref(o);
    return s;
}

char *serve_json_error(const serve_error *e)
{
    return dump(json_pack("{s:{s:s,s:s,s:s?,s:n}}", "error", "message", e->message, "type", e->type, "param", e->param,
                          "code"));
}

static json_t *usage(int prompt_tokens, int completion_tokens)
{
    return json_pack("{s:i,s:i,s:i}", "prompt_tokens", prompt_tokens, "completion_tokens", completion_tokens,
                     "total_tokens", prompt_tokens + completion_tokens);
}

char *serve_json_response(serve_kind kind, const char *id, long created, const char *model, const char *text,
                          size_t len, const char *finish, int prompt_tokens, int completion_tokens)
{
    json_t *choice = kind == SERVE_CHAT
                         ? json_pack("{s:i,s:{s:s,s:o},s:s}", "index", 0, "message", "role", "assistant", "content",
                                     text_value(text, len), "finish_reason", finish)
                         : json_pack("{s:i,s:o,s:n,s:s}", "index", 0, "text", text_value(text, len), "logprobs",
                                     "finish_reason", finish);
    return dump(json_pack("{s:s,s:s,s:I,s:s,s:[o],s:o}", "id", id, "object",
                          kind == SERVE_CHAT ? "chat.completion" : "text_completion", "created", (json_int_t)created,
                          "model", model, "choices", choice, "usage", usage(prompt_tokens, completion_tokens)));
}

char *serve_json_chunk(serve_kind kind, const char *id, long created, const char *model, const char *text, size_t len,
                       int first, const char *finish, int prompt_tokens, int completion_tokens)
{
    json_t *choice;
    if (kind == SERVE_CHAT) {
        json_t *delta = json_object();
        if (first) json_object_set_new(delta, "role", json_string("assistant"));
        if (len || first) json_object_set_new(delta, "content", text_value(text, len));
        choice = json_pack("{s:i,s:o,s:s?}", "index", 0, "delta", delta, "finish_reason", finish);
    } else {
        choice = json_pack("{s:i,s:o,s:n,s:s?}", "index", 0, "text", text_value(text, len), "logprobs", "finish_reason",
                           finish);
    }
    json_t *o = json_pack("{s:s,s:s,s:I,s:s,s:[o]}", "id", id, "object",
                          kind == SERVE_CHAT ? "chat.completion.chunk" : "text_completion", "created",
                          (json_int_t)created, "model", model, "choices", choice);
    if (o && finish) json_object_set_new(o, "usage", usage(prompt_tokens, completion_tokens));
    return dump(o);
}

char *serve_json_models(const char *model, long created)
{
    return dump(json_pack("{s:s,s:[{s:s,s:s,s:I,s:s}]}", "object", "list", "data", "id", model, "object", "model",
                          "created", (json_int_t)created, "owned_by", "kiln"));
}

/* demo/serve_json.h — `kiln serve`'s side of the OpenAI API as JSON (jansson):
 * request bodies in, validated into serve_params; responses, stream chunks
 * and error objects out. No HTTP here, so a fuzzer can drive the request
 * parser alone (tests/fuzz/fuzz_serve_request.c). */
#ifndef KILN_DEMO_SERVE_JSON_H
#define KILN_DEMO_SERVE_JSON_H

#include <stddef.h>

#include "kiln/runtime.h"
#include "runtime/chat_template.h"

typedef enum serve_kind { SERVE_CHAT, SERVE_COMPLETION } serve_kind;

#define SERVE_MAX_STOP 4
#define SERVE_MAX_TOKENS_LIMIT (1 << 20) /* max_tokens above this is refused as absurd */

/* A request, validated. */
typedef struct serve_params {
    serve_kind kind;
    char *prompt;          /* completion: the prompt; chat: the conversation rendered */
    int max_tokens;        /* 0 = until the context is full */
    kiln_sampler_params sp;
    int seed_given;
    char *stop[SERVE_MAX_STOP];
    int n_stop;
    int stream;
    int ignore_eos;        /* generate past EOS / end of turn (llama-server's field) */
} serve_params;

typedef struct serve_error {
    int http;              /* 400, 401, 404, 413, 500, 503 */
    const char *type;      /* "invalid_request_error", ... */
    const char *param;     /* the offending field, or NULL */
    char message[256];
} serve_error;

/* What a request is checked against. */
typedef struct serve_model_info {
    const char *name;                 /* the id /v1/models lists */
    const kiln_chat_template *tmpl;   /* NULL: chat requests are refused */
    kiln_sampler_params defaults;
} serve_model_info;

/* Parses and validates a body. Returns 0, or -1 with *err filled in. */
int serve_parse_request(serve_kind kind, const char *body, size_t len, const serve_model_info *mi, serve_params *out,
                        serve_error *err);
void serve_params_free(serve_params *p);

/* Responses: malloc'ed, NUL-terminated JSON text (NULL on out of memory).
 * Text may be any bytes: invalid UTF-8 becomes U+FFFD. */
char *serve_json_error(const serve_error *e);
char *serve_json_response(serve_kind kind, const char *id, long created, const char *model, const char *text,
                          size_t len, const char *finish, int prompt_tokens, int completion_tokens);
/* One stream chunk; finish NULL until the last, which carries usage. first:
 * the chat chunk that opens the message (role "assistant"). */
char *serve_json_chunk(serve_kind kind, const char *id, long created, const char *model, const char *text, size_t len,
                       int first, const char *finish, int prompt_tokens, int completion_tokens);
char *serve_json_models(const char *model, long created);

#endif

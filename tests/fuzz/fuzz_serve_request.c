/* tests/fuzz/fuzz_serve_request.c — libFuzzer entry for kiln serve's request
 * parser (demo/serve_json.c: a body -> validated serve_params, or an error)
 * and its response writer. HTTP itself is libmicrohttpd's.
 *
 * Build: cmake --build BUILD --target fuzz_serve_request (clang, -fsanitize=fuzzer,address,undefined)
 * Run:   BUILD/bin/fuzz_serve_request -max_total_time=60 CORPUS_DIR
 *
 * Byte 0 picks the endpoint (chat or completion); the rest is the body, from
 * an exactly sized copy. A parsed request must be in range; every response
 * or error written (with the prompt as text, any bytes) must be valid JSON. */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "demo/serve_json.h"

static void must_be_json(char *text)
{
    if (!text) return; /* out of memory only */
    json_t *v = json_loads(text, JSON_ALLOW_NUL, NULL); /* generated text may hold NUL bytes: \u0000 is JSON */
    if (!v) { fprintf(stderr, "NOT JSON: %s\n", text); abort(); }
    json_decref(v);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    char *body = malloc(size - 1 ? size - 1 : 1);
    if (!body) return 0;
    memcpy(body, data + 1, size - 1);
    serve_model_info mi = {.name = "model.gguf", .tmpl = kiln_chat_template_by_name("chatml"),
                           .defaults = kiln_sampler_params_default()};
    serve_kind kind = data[0] & 1 ? SERVE_CHAT : SERVE_COMPLETION;
    serve_params p;
    serve_error e;
    if (serve_parse_request(kind, body, size - 1, &mi, &p, &e) == 0) {
        if (!p.prompt || p.max_tokens < 0 || p.max_tokens > SERVE_MAX_TOKENS_LIMIT || p.n_stop > SERVE_MAX_STOP ||
            !(p.sp.temperature >= 0 && p.sp.temperature <= 2) || !(p.sp.top_p >= 0 && p.sp.top_p <= 1))
            abort();
        size_t len = strlen(p.prompt);
        must_be_json(serve_json_response(kind, "id", 1, mi.name, p.prompt, len, "stop", 1, 2));
        must_be_json(serve_json_chunk(kind, "id", 1, mi.name, p.prompt, len, data[0] & 2, NULL, 0, 0));
        serve_params_free(&p);
    } else {
        if (e.http < 400 || e.http > 599) abort();
        must_be_json(serve_json_error(&e));
    }
    /* the body itself as generated text: any bytes become valid JSON */
    must_be_json(serve_json_response(SERVE_COMPLETION, "id", 1, mi.name, body, size - 1, "length", 0, 0));
    free(body);
    return 0;
}

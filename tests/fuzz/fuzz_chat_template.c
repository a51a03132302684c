/* tests/fuzz/fuzz_chat_template.c — libFuzzer entry for chat template
 * detection and rendering.
 *
 * Build: cmake --build BUILD --target fuzz_chat_template (clang, -fsanitize=fuzzer,address,undefined)
 * Run:   BUILD/bin/fuzz_chat_template -max_total_time=60 CORPUS_DIR
 *
 * Input: byte 0 picks the template (past the table's end: the one the rest
 * of the input is detected as, when any), byte 1 bit 0 the generation prompt;
 * the rest is messages separated by NUL bytes, each a role byte (mod 3) and
 * its content. The whole input is also run through detection as a Jinja
 * program. The rendering must be one NUL-terminated string of the length
 * reported, and must contain every user and assistant message's content
 * (trimmed templates may drop surrounding whitespace only; Gemma drops a
 * system message no user message follows, as llama.cpp does). */
#include <ctype.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/chat_template.h"

#define MAX_MSGS 64

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    char *text = malloc(size + 1); /* exactly sized: ASan sees any overread */
    if (!text) return 0;
    memcpy(text, data, size);
    text[size] = 0;
    size_t n_templates = 0;
    while (kiln_chat_template_at(n_templates)) n_templates++;
    const kiln_chat_template *t = kiln_chat_template_at(data[0] % (n_templates + 1));
    if (!t) t = kiln_chat_template_detect(text + 2);
    if (!t) t = kiln_chat_template_at(0);
    int add_generation = data[1] & 1;

    kiln_chat_msg msgs[MAX_MSGS];
    size_t n = 0;
    for (size_t at = 2; at < size && n < MAX_MSGS;) {
        size_t len = strlen(text + at);
        if (len > 0) msgs[n++] = (kiln_chat_msg){(kiln_chat_role)((unsigned char)text[at] % 3), text + at + 1};
        at += len + 1;
    }
    char *out = NULL;
    size_t out_len = 0;
    if (kiln_chat_render(t, msgs, n, add_generation, &out, &out_len) == KILN_OK) {
        if (strlen(out) != out_len) abort();
        for (size_t i = 0; i < n; i++) {
            if (msgs[i].role == KILN_CHAT_SYSTEM) continue;
            const char *c = msgs[i].content;
            size_t len = strlen(c);
            while (len && isspace((unsigned char)*c)) c++, len--;
            while (len && isspace((unsigned char)c[len - 1])) len--;
            if (len && !memmem(out, out_len, c, len)) abort();
        }
    }
    free(out);
    free(text);
    return 0;
}

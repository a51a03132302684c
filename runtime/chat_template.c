/* runtime/chat_template.c — the table of chat templates, their detection from
 * tokenizer.chat_template, and rendering.
 *
 * Detection follows llama.cpp's llm_chat_detect_template (src/llama-chat.cpp):
 * the first entry, in table order, one of whose substring sets is wholly
 * contained in the Jinja program wins, so the order is part of the rules
 * (Phi-4 before ChatML, the Mistral variants before Llama 2, ...).
 *
 * Rendering is what llama.cpp's llm_chat_apply_template writes for the same
 * template (its tests/test-chat-template.cpp expectations are our tests),
 * expressed as data: each message is prefix + content + suffix of its role;
 * templates built on [INST] turns open a turn before a message when none is
 * open, and an assistant message closes it; Gemma has no system role and puts
 * the system text in front of the next user message. */
#include "runtime/chat_template.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/error.h"
#include "runtime/model.h"

#define ALL_ROLES 7u
#define TRIM(role) (1u << (role))

typedef struct role_fmt {
    const char *prefix, *suffix;
} role_fmt;

struct kiln_chat_template {
    const char *name;
    const char *detect[3][3]; /* alternatives, each a set of substrings that must all occur */
    const char *unless;       /* a substring that rules this entry out */
    role_fmt role[KILN_CHAT_ROLE_COUNT];
    const char *generation;   /* opens the assistant's reply (add_generation) */
    /* [INST] turns (turn_open != NULL): turn_open is written before a message
     * when no turn is open; an assistant message closes the turn. turn_first,
     * when set, is written at the very start and leaves a turn open. */
    const char *turn_first, *turn_open;
    unsigned trim;            /* TRIM(role): content without surrounding whitespace */
    const char *merge_system; /* no system role: system text goes before the next user content, then this */
    const char *stop;         /* end-of-turn token text, when it is not (only) the EOS */
};

#define SYS KILN_CHAT_SYSTEM
#define USR KILN_CHAT_USER
#define AST KILN_CHAT_ASSISTANT
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>" /* <｜end▁of▁sentence｜> */
#define DS_USER "<\xef\xbd\x9cUser\xef\xbd\x9c>"                                       /* <｜User｜> */
#define DS_ASSISTANT "<\xef\xbd\x9c" "Assistant\xef\xbd\x9c>"                          /* <｜Assistant｜> */

static const kiln_chat_template templates[] = {
    {.name = "phi4",
     .detect = {{"<|im_start|>", "<|im_sep|>"}},
     .role = {[SYS] = {"<|im_start|>system<|im_sep|>", "<|im_end|>"},
              [USR] = {"<|im_start|>user<|im_sep|>", "<|im_end|>"},
              [AST] = {"<|im_start|>assistant<|im_sep|>", "<|im_end|>"}},
     .generation = "<|im_start|>assistant<|im_sep|>",
     .stop = "<|im_end|>"},
    {.name = "chatml",
     .detect = {{"<|im_start|>"}},
     .unless = "<end_of_utterance>", /* SmolVLM: <|im_start|> as BOS, not ChatML */
     .role = {[SYS] = {"<|im_start|>system\n", "<|im_end|>\n"},
              [USR] = {"<|im_start|>user\n", "<|im_end|>\n"},
              [AST] = {"<|im_start|>assistant\n", "<|im_end|>\n"}},
     .generation = "<|im_start|>assistant\n",
     .stop = "<|im_end|>"},
    {.name = "mistral-v7",
     .detect = {{"[INST]", "[SYSTEM_PROMPT]"}},
     .role = {[SYS] = {"[SYSTEM_PROMPT] ", "[/SYSTEM_PROMPT]"}, [USR] = {"[INST] ", "[/INST]"}, [AST] = {" ", "</s>"}},
     .generation = ""},
    {.name = "mistral-v1",
     .detect = {{"' [INST] ' + system_message"}, {"[AVAILABLE_TOOLS]", " [INST]"}},
     .role = {[SYS] = {"", "\n\n"}, [USR] = {"", " [/INST]"}, [AST] = {" ", "</s>"}},
     .generation = "",
     .turn_open = " [INST] "},
    {.name = "mistral-v3-tekken",
     .detect = {{"[AVAILABLE_TOOLS]", "\"[INST]\""}},
     .role = {[SYS] = {"", "\n\n"}, [USR] = {"", "[/INST]"}, [AST] = {"", "</s>"}},
     .generation = "",
     .turn_open = "[INST]"},
    {.name = "mistral-v3",
     .detect = {{"[AVAILABLE_TOOLS]"}},
     .role = {[SYS] = {"", "\n\n"}, [USR] = {"", "[/INST]"}, [AST] = {" ", "</s>"}},
     .generation = "",
     .turn_open = "[INST] ",
     .trim = TRIM(AST)},
    {.name = "llama2-sys-strip",
     .detect = {{"[INST]", "content.strip()"}},
     .role = {[SYS] = {"<<SYS>>\n", "\n<</SYS>>\n\n"}, [USR] = {"", " [/INST]"}, [AST] = {"", "</s>"}},
     .generation = "",
     .turn_first = "[INST] ",
     .turn_open = "[INST] ",
     .trim = ALL_ROLES},
    {.name = "llama2-sys-bos",
     .detect = {{"[INST]", "bos_token + '[INST]"}},
     .role = {[SYS] = {"<<SYS>>\n", "\n<</SYS>>\n\n"}, [USR] = {"", " [/INST]"}, [AST] = {"", "</s>"}},
     .generation = "",
     .turn_first = "[INST] ",
     .turn_open = "<s>[INST] "},
    {.name = "llama2-sys",
     .detect = {{"[INST]", "<<SYS>>"}},
     .role = {[SYS] = {"<<SYS>>\n", "\n<</SYS>>\n\n"}, [USR] = {"", " [/INST]"}, [AST] = {"", "</s>"}},
     .generation = "",
     .turn_first = "[INST] ",
     .turn_open = "[INST] "},
    {.name = "llama2",
     .detect = {{"[INST]"}},
     .role = {[SYS] = {"", "\n"}, [USR] = {"", " [/INST]"}, [AST] = {"", "</s>"}},
     .generation = "",
     .turn_first = "[INST] ",
     .turn_open = "[INST] "},
    {.name = "phi3",
     .detect = {{"<|assistant|>", "<|end|>"}},
     .role = {[SYS] = {"<|system|>\n", "<|end|>\n"}, [USR] = {"<|user|>\n", "<|end|>\n"},
              [AST] = {"<|assistant|>\n", "<|end|>\n"}},
     .generation = "<|assistant|>\n",
     .stop = "<|end|>"},
    {.name = "zephyr",
     .detect = {{"<|user|>", "<|endoftext|>"}},
     .role = {[SYS] = {"<|system|>\n", "<|endoftext|>\n"}, [USR] = {"<|user|>\n", "<|endoftext|>\n"},
              [AST] = {"<|assistant|>\n", "<|endoftext|>\n"}},
     .generation = "<|assistant|>\n",
     .stop = "<|endoftext|>"},
    {.name = "gemma",
     .detect = {{"<start_of_turn>"}},
     .role = {[USR] = {"<start_of_turn>user\n", "<end_of_turn>\n"}, [AST] = {"<start_of_turn>model\n", "<end_of_turn>\n"}},
     .generation = "<start_of_turn>model\n",
     .trim = ALL_ROLES,
     .merge_system = "\n\n",
     .stop = "<end_of_turn>"},
    {.name = "deepseek",
     .detect = {{"### Instruction:", "<|EOT|>"}},
     .role = {[SYS] = {"", ""}, [USR] = {"### Instruction:\n", "\n"}, [AST] = {"### Response:\n", "\n<|EOT|>\n"}},
     .generation = "### Response:\n",
     .stop = "<|EOT|>"},
    {.name = "llama3",
     .detect = {{"<|start_header_id|>", "<|end_header_id|>"}},
     .role = {[SYS] = {"<|start_header_id|>system<|end_header_id|>\n\n", "<|eot_id|>"},
              [USR] = {"<|start_header_id|>user<|end_header_id|>\n\n", "<|eot_id|>"},
              [AST] = {"<|start_header_id|>assistant<|end_header_id|>\n\n", "<|eot_id|>"}},
     .generation = "<|start_header_id|>assistant<|end_header_id|>\n\n",
     .trim = ALL_ROLES,
     .stop = "<|eot_id|>"},
    {.name = "deepseek2",
     .detect = {{"'Assistant: ' + message['content'] + eos_token"}},
     .role = {[SYS] = {"", "\n\n"}, [USR] = {"User: ", "\n\n"}, [AST] = {"Assistant: ", DS_EOS}},
     .generation = "Assistant:",
     .stop = DS_EOS},
    {.name = "deepseek3",
     .detect = {{DS_ASSISTANT, DS_USER, DS_EOS}},
     .role = {[SYS] = {"", "\n\n"}, [USR] = {DS_USER, ""}, [AST] = {DS_ASSISTANT, DS_EOS}},
     .generation = DS_ASSISTANT,
     .stop = DS_EOS},
};
#define N_TEMPLATES (sizeof templates / sizeof templates[0])

int kiln_chat_role_from_name(const char *name)
{
    static const char *const names[KILN_CHAT_ROLE_COUNT] = {[SYS] = "system", [USR] = "user", [AST] = "assistant"};
    for (int r = 0; name && r < KILN_CHAT_ROLE_COUNT; r++)
        if (!strcmp(name, names[r])) return r;
    return -1;
}

const kiln_chat_template *kiln_chat_template_by_name(const char *name)
{
    for (size_t i = 0; name && i < N_TEMPLATES; i++)
        if (!strcmp(templates[i].name, name)) return &templates[i];
    return NULL;
}

static int matches(const kiln_chat_template *t, const char *tmpl)
{
    if (t->unless && strstr(tmpl, t->unless)) return 0;
    for (int a = 0; a < 3 && t->detect[a][0]; a++) {
        int all = 1;
        for (int k = 0; k < 3 && t->detect[a][k] && all; k++) all = strstr(tmpl, t->detect[a][k]) != NULL;
        if (all) return 1;
    }
    return 0;
}

const kiln_chat_template *kiln_chat_template_detect(const char *tmpl)
{
    if (!tmpl) return NULL;
    const kiln_chat_template *named = kiln_chat_template_by_name(tmpl);
    if (named) return named;
    for (size_t i = 0; i < N_TEMPLATES; i++)
        if (matches(&templates[i], tmpl)) return &templates[i];
    return NULL;
}

const char *kiln_chat_template_name(const kiln_chat_template *t) { return t->name; }
const char *kiln_chat_template_stop(const kiln_chat_template *t) { return t->stop; }
const kiln_chat_template *kiln_chat_template_at(size_t i) { return i < N_TEMPLATES ? &templates[i] : NULL; }

int32_t kiln_chat_template_stop_id(const kiln_chat_template *t, const kiln_tokenizer *tok)
{
    int32_t *ids = NULL, id = -1;
    size_t n = 0;
    if (t->stop && tok && kiln_tokenize(tok, t->stop, strlen(t->stop), 0, 1, &ids, &n) == KILN_OK && n == 1) id = ids[0];
    free(ids);
    return id;
}

kiln_status kiln_chat_template_for_model(const kiln_model *m, const char *forced, const kiln_chat_template **out)
{
    *out = NULL;
    if (forced) {
        if (!(*out = kiln_chat_template_by_name(forced)))
            return kiln_fail(KILN_ERR_INVALID_ARG, "unknown chat template '%s' (kiln chat --help lists them)", forced);
        return KILN_OK;
    }
    kiln_gguf_str s;
    if (!m->gguf || kiln_gguf_get_str(m->gguf, "tokenizer.chat_template", &s) != KILN_OK)
        return kiln_fail(KILN_ERR_UNSUPPORTED, "the model has no tokenizer.chat_template; choose one with --chat-template NAME");
    char *text = malloc(s.len + 1);
    if (!text) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "chat template: out of memory");
    memcpy(text, s.ptr, s.len);
    text[s.len] = 0; /* a NUL inside the program only shortens what is searched */
    *out = kiln_chat_template_detect(text);
    if (*out) {
        free(text);
        return KILN_OK;
    }
    /* Name it by its first line, so the user can tell which template it is. */
    size_t show = strcspn(text, "\n");
    if (show > 80) show = 80;
    kiln_status st = kiln_fail(KILN_ERR_UNSUPPORTED,
                               "the model's chat template is not one kiln recognises (it begins '%.*s'); choose one with --chat-template NAME",
                               (int)show, text);
    free(text);
    return st;
}

/* ---------------------------------------------------------------- render */

typedef struct strbuf {
    char *p;
    size_t n, cap;
    int oom;
} strbuf;

static void put(strbuf *b, const char *s, size_t len)
{
    if (b->oom || !len) return;
    if (b->n + len + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + len + 1) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->oom = 1;
            return;
        }
        b->p = p, b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void puts_(strbuf *b, const char *s)
{
    if (s) put(b, s, strlen(s));
}

/* The content, without surrounding whitespace when trim is set. */
static void put_content(strbuf *b, const char *s, int trim)
{
    size_t len = strlen(s);
    if (trim) {
        while (len && isspace((unsigned char)*s)) s++, len--;
        while (len && isspace((unsigned char)s[len - 1])) len--;
    }
    put(b, s, len);
}

kiln_status kiln_chat_render(const kiln_chat_template *t, const kiln_chat_msg *msgs, size_t n, int add_generation,
                             char **out, size_t *out_len)
{
    *out = NULL;
    if (out_len) *out_len = 0;
    strbuf b = {0}, pending = {0}; /* pending: the system text of a template without a system role */
    int in_turn = 0;
    if (t->turn_first) puts_(&b, t->turn_first), in_turn = 1;
    for (size_t i = 0; i < n; i++) {
        const kiln_chat_msg *m = &msgs[i];
        if ((int)m->role < 0 || (int)m->role >= KILN_CHAT_ROLE_COUNT || !m->content) {
            free(b.p), free(pending.p);
            return kiln_fail(KILN_ERR_INVALID_ARG, "chat message %zu has no content or an unknown role", i);
        }
        int trim = (t->trim & TRIM(m->role)) != 0;
        if (t->merge_system && m->role == SYS) {
            put_content(&pending, m->content, trim);
            continue;
        }
        if (t->turn_open && !in_turn) puts_(&b, t->turn_open), in_turn = 1;
        puts_(&b, t->role[m->role].prefix);
        if (m->role == USR && pending.n) {
            put(&b, pending.p, pending.n);
            puts_(&b, t->merge_system);
            pending.n = 0;
        }
        put_content(&b, m->content, trim);
        puts_(&b, t->role[m->role].suffix);
        if (m->role == AST) in_turn = 0;
    }
    if (add_generation) puts_(&b, t->generation);
    free(pending.p);
    if (b.oom || pending.oom) {
        free(b.p);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "chat template %s: out of memory", t->name);
    }
    if (!b.p) b.p = calloc(1, 1);
    if (!b.p) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "chat template %s: out of memory", t->name);
    *out = b.p;
    if (out_len) *out_len = b.n;
    return KILN_OK;
}

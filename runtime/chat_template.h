/* runtime/chat_template.h — chat templates: a conversation (role, content
 * messages) rendered to the prompt text an instruct model was trained on
 * (internal).
 *
 * GGUF keeps a model's template as a Jinja program in tokenizer.chat_template.
 * kiln runs no Jinja: like llama.cpp's llama-chat.cpp it recognises the
 * common templates by substrings of that program and renders each with fixed
 * rules. One table (chat_template.c) lists every template: its name, the
 * substrings that identify it, and its rendering rules. */
#ifndef KILN_RUNTIME_CHAT_TEMPLATE_H
#define KILN_RUNTIME_CHAT_TEMPLATE_H

#include <stddef.h>

#include "kiln/runtime.h"

typedef enum kiln_chat_role { KILN_CHAT_SYSTEM, KILN_CHAT_USER, KILN_CHAT_ASSISTANT, KILN_CHAT_ROLE_COUNT } kiln_chat_role;

typedef struct kiln_chat_msg {
    kiln_chat_role role;
    const char *content; /* UTF-8, NUL-terminated */
} kiln_chat_msg;

typedef struct kiln_chat_template kiln_chat_template;

/* "system" / "user" / "assistant" -> role; -1 for anything else. */
int kiln_chat_role_from_name(const char *name);

/* The template called name ("chatml", "llama3", ...), or NULL. */
const kiln_chat_template *kiln_chat_template_by_name(const char *name);
/* The template a Jinja program (or a template name, as llama.cpp accepts) is
 * recognised as, or NULL. */
const kiln_chat_template *kiln_chat_template_detect(const char *tmpl);
/* The model's template: forced (a name; NULL = none) or detected from its
 * tokenizer.chat_template. Fails naming what is wrong: an unknown name, a
 * model without a template, a template no rule recognises. */
kiln_status kiln_chat_template_for_model(const kiln_model *m, const char *forced, const kiln_chat_template **out);

const char *kiln_chat_template_name(const kiln_chat_template *t);
/* The i-th template of the table (for --help lists), NULL past the end. */
const kiln_chat_template *kiln_chat_template_at(size_t i);
/* Text of the token that ends a turn in this template ("<|im_end|>"), which a
 * reply stops at besides the vocabulary's EOS; NULL when the EOS does. */
const char *kiln_chat_template_stop(const kiln_chat_template *t);

/* The id of the template's end-of-turn token in this vocabulary (when its
 * stop text is exactly one token there), else -1. */
int32_t kiln_chat_template_stop_id(const kiln_chat_template *t, const kiln_tokenizer *tok);

/* Renders n messages; add_generation: end with the assistant's opening so the
 * model writes the reply. *out is malloc'ed, NUL-terminated (free() it).
 * Fails on a null content. */
kiln_status kiln_chat_render(const kiln_chat_template *t, const kiln_chat_msg *msgs, size_t n, int add_generation,
                             char **out, size_t *out_len);

#endif

/* tests/test_chat_template.c — chat template detection and rendering against
 * what llama.cpp renders for the same templates.
 *
 * The conversation and the expected strings are those of llama.cpp's
 * tests/test-chat-template.cpp (llama-cpp-python 0.3.36's vendored copy), a
 * few templates per family; each template text here is an excerpt of the
 * real Jinja program that keeps the parts detection looks at. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "runtime/chat_template.h"

static const kiln_chat_msg conversation[] = {
    {KILN_CHAT_SYSTEM, "You are a helpful assistant"}, {KILN_CHAT_USER, "Hello"},
    {KILN_CHAT_ASSISTANT, "Hi there"},                 {KILN_CHAT_USER, "Who are you"},
    {KILN_CHAT_ASSISTANT, "   I am an assistant   "},  {KILN_CHAT_USER, "Another question"},
};
#define N_CONV (sizeof conversation / sizeof conversation[0])

/* <｜end▁of▁sentence｜>, DeepSeek's EOS */
#define DS_EOS "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>"

typedef struct chat_case {
    const char *model;    /* where the template comes from */
    const char *jinja;    /* excerpt of its tokenizer.chat_template */
    const char *detected; /* the name kiln (and llama.cpp) gives it */
    const char *expected; /* llama.cpp's rendering, with the generation prompt */
} chat_case;

static const chat_case cases[] = {
    {"teknium/OpenHermes-2.5-Mistral-7B",
     "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}",
     "chatml",
     "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\nHi there<|im_end|>\n<|im_start|>user\nWho are you<|im_end|>\n<|im_start|>assistant\n   I am an assistant   <|im_end|>\n<|im_start|>user\nAnother question<|im_end|>\n<|im_start|>assistant\n"},
    {"mistralai/Mistral-7B-Instruct-v0.2 (pre-v1, no system prompt)",
     "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% endif %}{% endfor %}",
     "llama2",
     "[INST] You are a helpful assistant\nHello [/INST]Hi there</s>[INST] Who are you [/INST]   I am an assistant   </s>[INST] Another question [/INST]"},
    {"TheBloke/FusionNet_34Bx2_MoE-AWQ",
     "{{- bos_token + '[INST] ' + messages[idx]['content'] + ' [/INST]' -}}{{- '[INST] <<SYS>>\\n' + messages[idx]['content'] + '\\n<</SYS>>\\n\\n' -}}",
     "llama2-sys-bos",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s><s>[INST] Who are you [/INST]   I am an assistant   </s><s>[INST] Another question [/INST]"},
    {"bofenghuang/vigogne-2-70b-chat",
     "{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}",
     "llama2-sys-strip",
     "[INST] <<SYS>>\nYou are a helpful assistant\n<</SYS>>\n\nHello [/INST]Hi there</s>[INST] Who are you [/INST]I am an assistant</s>[INST] Another question [/INST]"},
    {"google/gemma-7b-it",
     "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\\n'}}{% endif %}",
     "gemma",
     "<start_of_turn>user\nYou are a helpful assistant\n\nHello<end_of_turn>\n<start_of_turn>model\nHi there<end_of_turn>\n<start_of_turn>user\nWho are you<end_of_turn>\n<start_of_turn>model\nI am an assistant<end_of_turn>\n<start_of_turn>user\nAnother question<end_of_turn>\n<start_of_turn>model\n"},
    {"deepseek-ai/deepseek-coder-33b-instruct",
     "{{'### Instruction:\\n' + message['content'] + '\\n'}}{{'### Response:\\n' + message['content'] + '\\n<|EOT|>\\n'}}",
     "deepseek",
     "You are a helpful assistant### Instruction:\nHello\n### Response:\nHi there\n<|EOT|>\n### Instruction:\nWho are you\n### Response:\n   I am an assistant   \n<|EOT|>\n### Instruction:\nAnother question\n### Response:\n"},
    {"Llama-3",
     "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}",
     "llama3",
     "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi there<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWho are you<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nI am an assistant<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nAnother question<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"},
    {"Phi-3-mini",
     "{{'<|user|>' + '\\n' + message['content'] + '<|end|>' + '\\n' + '<|assistant|>' + '\\n'}}",
     "phi3",
     "<|system|>\nYou are a helpful assistant<|end|>\n<|user|>\nHello<|end|>\n<|assistant|>\nHi there<|end|>\n<|user|>\nWho are you<|end|>\n<|assistant|>\n   I am an assistant   <|end|>\n<|user|>\nAnother question<|end|>\n<|assistant|>\n"},
    {"DeepSeek-V2",
     "{% elif message['role'] == 'assistant' %}{{ 'Assistant: ' + message['content'] + eos_token }}",
     "deepseek2",
     "You are a helpful assistant\n\nUser: Hello\n\nAssistant: Hi there" DS_EOS "User: Who are you\n\nAssistant:    I am an assistant   " DS_EOS
     "User: Another question\n\nAssistant:"},
    {"mistralai/Mistral-7B-Instruct-v0.2 (mistral 'v1' template with a system prompt)",
     "{{- ' [INST] ' + system_message + '\\n\\n' + message['content'] + ' [/INST]' }}",
     "mistral-v1",
     " [INST] You are a helpful assistant\n\nHello [/INST] Hi there</s> [INST] Who are you [/INST]    I am an assistant   </s> [INST] Another question [/INST]"},
    {"Mistral-Large-Instruct-2407 (mistral 'v3' template)",
     "{%- if message[\"role\"] == \"user\" %}{%- if tools is not none and (message == user_messages[-1]) %}{{- \"[AVAILABLE_TOOLS] [\" }}{%- endif %}{{- \"[INST] \" + message[\"content\"] + \"[/INST]\" }}",
     "mistral-v3",
     "[INST] You are a helpful assistant\n\nHello[/INST] Hi there</s>[INST] Who are you[/INST] I am an assistant</s>[INST] Another question[/INST]"},
    {"Mistral-Nemo-Instruct-2407 (mistral 'v3-tekken' template)",
     "{{- \"[AVAILABLE_TOOLS]\" }}{{- \"[INST]\" + message[\"content\"] + \"[/INST]\" }}",
     "mistral-v3-tekken",
     "[INST]You are a helpful assistant\n\nHello[/INST]Hi there</s>[INST]Who are you[/INST]   I am an assistant   </s>[INST]Another question[/INST]"},
    {"mistralai/Mistral-Large-Instruct-2411 (mistral 'v7' template)",
     "{{ '[INST] ' + message['content'] + '[/INST]' }}{% elif message['role'] == 'system' %}{{ '[SYSTEM_PROMPT] ' + message['content'] + '[/SYSTEM_PROMPT]' }}",
     "mistral-v7",
     "[SYSTEM_PROMPT] You are a helpful assistant[/SYSTEM_PROMPT][INST] Hello[/INST] Hi there</s>[INST] Who are you[/INST]    I am an assistant   </s>[INST] Another question[/INST]"},
};
#define N_CASES (sizeof cases / sizeof cases[0])

Test(chat_template, renders_what_llama_cpp_renders)
{
    for (size_t i = 0; i < N_CASES; i++) {
        const kiln_chat_template *t = kiln_chat_template_detect(cases[i].jinja);
        cr_assert_not_null(t, "%s: not recognised", cases[i].model);
        cr_expect_str_eq(kiln_chat_template_name(t), cases[i].detected, "%s", cases[i].model);
        char *out = NULL;
        size_t len = 0;
        cr_assert_eq(kiln_chat_render(t, conversation, N_CONV, 1, &out, &len), KILN_OK, "%s", kiln_last_error());
        cr_expect_str_eq(out, cases[i].expected, "%s (%s)", cases[i].model, cases[i].detected);
        cr_expect_eq(len, strlen(out));
        free(out);
    }
}

Test(chat_template, names_select_templates_and_detect_as_themselves)
{
    for (size_t i = 0; kiln_chat_template_at(i); i++) {
        const kiln_chat_template *t = kiln_chat_template_at(i);
        cr_expect_eq(kiln_chat_template_by_name(kiln_chat_template_name(t)), t);
        /* llama.cpp accepts a template name in place of the Jinja program */
        cr_expect_eq(kiln_chat_template_detect(kiln_chat_template_name(t)), t);
    }
    cr_expect_null(kiln_chat_template_by_name("jinja"));
    cr_expect_null(kiln_chat_template_detect("{{ messages }}"));
    cr_expect_null(kiln_chat_template_detect("<end_of_utterance><|im_start|>"), "SmolVLM is not ChatML");
}

Test(chat_template, generation_prompt_and_empty_conversations)
{
    const kiln_chat_template *t = kiln_chat_template_by_name("chatml");
    cr_assert_not_null(t);
    char *out = NULL;
    cr_assert_eq(kiln_chat_render(t, conversation, 2, 0, &out, NULL), KILN_OK);
    cr_expect_str_eq(out, "<|im_start|>system\nYou are a helpful assistant<|im_end|>\n<|im_start|>user\nHello<|im_end|>\n");
    free(out);
    cr_assert_eq(kiln_chat_render(t, NULL, 0, 1, &out, NULL), KILN_OK);
    cr_expect_str_eq(out, "<|im_start|>assistant\n");
    free(out);
    cr_assert_eq(kiln_chat_render(kiln_chat_template_by_name("mistral-v7"), NULL, 0, 0, &out, NULL), KILN_OK);
    cr_expect_str_eq(out, "");
    free(out);
    kiln_chat_msg bad = {KILN_CHAT_USER, NULL};
    cr_expect_neq(kiln_chat_render(t, &bad, 1, 1, &out, NULL), KILN_OK);
    cr_expect_null(out);
    cr_expect_eq(kiln_chat_role_from_name("assistant"), KILN_CHAT_ASSISTANT);
    cr_expect_eq(kiln_chat_role_from_name("tool"), -1);
}

/* A later turn's rendering extends the earlier one (what lets kiln chat
 * prefill only the new turn). */
Test(chat_template, a_conversation_grows_by_appending)
{
    for (size_t i = 0; kiln_chat_template_at(i); i++) {
        const kiln_chat_template *t = kiln_chat_template_at(i);
        char *before = NULL, *after = NULL;
        cr_assert_eq(kiln_chat_render(t, conversation, 4, 0, &before, NULL), KILN_OK);
        cr_assert_eq(kiln_chat_render(t, conversation, 6, 1, &after, NULL), KILN_OK);
        cr_expect_eq(strncmp(before, after, strlen(before)), 0, "%s", kiln_chat_template_name(t));
        free(before), free(after);
    }
}

/* bench/compare/llama_ref.c — greedy reference ids, top-2 margins and logits
 * from llama.cpp (libllama), for kiln's agreement test.
 *
 * NOT part of kiln's build: bench/compare/make_reference.sh compiles it
 * outside the repository against a llama.cpp build and runs it.
 *
 *   llama_ref MODEL N_PREDICT FLASH(0|1) PROMPT [LOGITS_OUT] [N_LOGITS]
 *
 * The prompt is tokenized by llama.cpp (BOS as the vocabulary says, special
 * tokens such as <|im_start|> parsed) and run with an f32 KV cache, one
 * thread (deterministic sums), greedy. Prints on stdout:
 *   prompt ID ID ...
 *   gen ID:MARGIN ID:MARGIN ...      MARGIN = top-1 minus top-2 logit of the step
 * LOGITS_OUT gets the full logits of the first N_LOGITS forward passes (the
 * prompt's, then each decode step's), one line each, "%.9g" separated by
 * spaces: the format of `kiln run --dump-logits`. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llama.h"

static void quiet(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (level >= GGML_LOG_LEVEL_WARN) fputs(text, stderr);
}

static int top2(const float *l, int n, float *margin)
{
    int a = 0, b = -1;
    for (int i = 1; i < n; i++) {
        if (l[i] > l[a]) b = a, a = i;
        else if (b < 0 || l[i] > l[b]) b = i;
    }
    *margin = l[a] - l[b];
    return a;
}

int main(int argc, char **argv)
{
    if (argc < 5) {
        fprintf(stderr, "usage: llama_ref MODEL N_PREDICT FLASH(0|1) PROMPT [LOGITS_OUT] [N_LOGITS]\n");
        return 2;
    }
    const char *path = argv[1], *prompt = argv[4];
    int n_predict = atoi(argv[2]), flash = atoi(argv[3]);
    FILE *dump = argc > 5 ? fopen(argv[5], "w") : NULL;
    int n_dump = argc > 6 ? atoi(argv[6]) : 1;
    if (argc > 5 && !dump) {
        fprintf(stderr, "cannot write %s\n", argv[5]);
        return 1;
    }
    llama_log_set(quiet, NULL);
    llama_backend_init();
    struct llama_model_params mp = llama_model_default_params();
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) return 1;
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    int n_vocab = llama_vocab_n_tokens(vocab);

    int cap = (int)strlen(prompt) + 8;
    llama_token *ids = malloc(((size_t)cap + n_predict) * sizeof *ids);
    int n = llama_tokenize(vocab, prompt, (int)strlen(prompt), ids, cap, true, true);
    if (n <= 0) return 1;

    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)(n + n_predict + 8);
    cp.n_batch = cp.n_ubatch = (uint32_t)(n + 8);
    cp.n_threads = cp.n_threads_batch = 1;
    cp.type_k = cp.type_v = GGML_TYPE_F32;
    cp.flash_attn_type = flash ? LLAMA_FLASH_ATTN_TYPE_ENABLED : LLAMA_FLASH_ATTN_TYPE_DISABLED;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx) return 1;

    printf("prompt");
    for (int i = 0; i < n; i++) printf(" %d", ids[i]);
    printf("\ngen");
    struct llama_batch batch = llama_batch_get_one(ids, n);
    for (int step = 0; step < n_predict; step++) {
        if (llama_decode(ctx, batch)) return 1;
        const float *l = llama_get_logits_ith(ctx, -1);
        if (dump && step < n_dump) {
            for (int i = 0; i < n_vocab; i++) fprintf(dump, i ? " %.9g" : "%.9g", l[i]);
            fputc('\n', dump);
        }
        float margin;
        llama_token next = top2(l, n_vocab, &margin);
        printf(" %d:%.4f", next, margin);
        ids[n + step] = next;
        batch = llama_batch_get_one(&ids[n + step], 1);
    }
    printf("\n");
    if (dump) fclose(dump);
    llama_free(ctx);
    llama_model_free(model);
    llama_backend_free();
    return 0;
}

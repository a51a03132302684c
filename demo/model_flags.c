/* demo/model_flags.c — the flags `kiln chat` and `kiln serve` share, and
 * opening the model they name; --tokenizer-pre's help and the model load with
 * it, which `kiln run` and `kiln bench -m` use too. */
#include "demo/model_flags.h"

#include <stdlib.h>
#include <string.h>

#include "demo/args.h"
#include "kiln/autotune.h"
#include "runtime/chat_template.h"

void model_flags_init(model_flags *f)
{
    memset(f, 0, sizeof *f);
    f->device = "cpu";
    f->kv_type = KILN_F16;
    f->sp = kiln_sampler_params_default();
}

void model_flags_usage_tokenizer_pre(FILE *out)
{
    /* the names (about 80) are in `kiln tokenize --help`: listed here they would
     * double the length of each command's help */
    fprintf(out, "      --tokenizer-pre NAME  BPE vocabularies: split words with llama.cpp's pre-tokenizer NAME\n"
                 "                          (e.g. smollm, llama3, gpt-2; `kiln tokenize --help` lists them)\n"
                 "                          instead of the file's tokenizer.ggml.pre\n");
}

int model_flags_load(const char *cmd, const char *path, const char *tokenizer_pre, kiln_model **m)
{
    kiln_model_load_options lo = kiln_model_load_options_default();
    lo.tokenizer_pre = tokenizer_pre;
    if (kiln_model_load_ex(path, &lo, m) == KILN_OK) return 0;
    fprintf(stderr, "kiln %s: %s\n", cmd, kiln_last_error());
    return 1;
}

void model_flags_usage(FILE *out)
{
    fprintf(out,
            "  -m, --model MODEL       a GGUF model with a vocabulary\n"
            "      --chat-template NAME  the template to render messages with, instead of the one the\n"
            "                          model's tokenizer.chat_template is recognised as. NAME is one of:\n"
            "                         ");
    int col = 26;
    for (size_t i = 0; kiln_chat_template_at(i); i++) {
        const char *name = kiln_chat_template_name(kiln_chat_template_at(i));
        if (col + (int)strlen(name) + 1 > 96) fprintf(out, "\n                         "), col = 26;
        col += fprintf(out, " %s", name);
    }
    fprintf(out,
            "\n"
            "      --temp T            temperature, 0 = greedy (default 0.8)\n"
            "      --top-k K           keep the K most likely tokens (default 40, 0 = off)\n"
            "      --top-p P           nucleus sampling (default 0.95, 1 = off)\n"
            "      --min-p P           drop tokens below P x the best one's probability (default 0.05)\n"
            "      --repeat-penalty R  penalty on recent tokens (default 1 = off)\n"
            "      --seed S            sampling seed (default: from the clock)\n"
            "      --backend B         cpu (default), cuda, cuda:1, vulkan, ... (also --device)\n"
            "  -t, --threads N         cpu threads (default: all cores)\n"
            "  -c, --ctx N             tokens one conversation may hold (default: the model's context)\n"
            "      --kv-type T         KV cache type f16 (default), f32 or q8_0\n");
    model_flags_usage_tokenizer_pre(out);
}

int model_flags_parse(model_flags *f, const char *cmd, int argc, char **argv, int *i)
{
    const char *a = argv[*i];
    static const char *const with_value[] = {"-m", "--model", "--chat-template", "--temp", "--top-k", "--top-p",
                                             "--min-p", "--repeat-penalty", "--seed", "--backend", "--device",
                                             "-t", "--threads", "-c", "--ctx", "--kv-type", "--tokenizer-pre"};
    int known = 0;
    for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++) known |= !strcmp(a, with_value[k]);
    if (!known) return 0;
    if (*i + 1 >= argc) {
        fprintf(stderr, "kiln %s: %s needs a value\n", cmd, a);
        return -1;
    }
    const char *v = argv[++*i];
    char c[64]; /* args.c's messages name the whole command */
    snprintf(c, sizeof c, "kiln %s", cmd);
    int r = 0;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) f->model = v;
    else if (!strcmp(a, "--chat-template")) {
        if (!kiln_chat_template_by_name(v)) {
            fprintf(stderr, "kiln %s: unknown chat template '%s' (kiln %s --help lists them)\n", cmd, v, cmd);
            return -1;
        }
        f->chat_template = v;
    } else if (!strcmp(a, "--temp")) r = kiln_arg_float(c, a, v, 0, 100, &f->sp.temperature);
    else if (!strcmp(a, "--top-k")) r = kiln_arg_i32(c, a, v, 0, 1 << 30, &f->sp.top_k);
    else if (!strcmp(a, "--top-p")) r = kiln_arg_float(c, a, v, 0, 1, &f->sp.top_p);
    else if (!strcmp(a, "--min-p")) r = kiln_arg_float(c, a, v, 0, 1, &f->sp.min_p);
    else if (!strcmp(a, "--repeat-penalty")) r = kiln_arg_float(c, a, v, 0.01, 100, &f->sp.repeat_penalty);
    else if (!strcmp(a, "--seed")) r = kiln_arg_u64(c, a, v, &f->sp.seed), f->seed_given = 1;
    else if (!strcmp(a, "--backend") || !strcmp(a, "--device")) f->device = v;
    else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) r = kiln_arg_i32(c, a, v, 0, 1024, &f->threads);
    else if (!strcmp(a, "-c") || !strcmp(a, "--ctx")) r = kiln_arg_i32(c, a, v, 0, 1 << 24, &f->ctx);
    else if (!strcmp(a, "--tokenizer-pre")) f->tokenizer_pre = v;
    else if (!strcmp(a, "--kv-type")) {
        if (!strcmp(v, "f16")) f->kv_type = KILN_F16;
        else if (!strcmp(v, "f32")) f->kv_type = KILN_F32;
        else if (!strcmp(v, "q8_0")) f->kv_type = KILN_Q8_0;
        else {
            fprintf(stderr, "kiln %s: --kv-type must be f16, f32 or q8_0, not '%s'\n", cmd, v);
            return -1;
        }
    }
    return r ? -1 : 1;
}

int model_flags_open(const model_flags *f, const char *cmd, int max_seqs, kiln_model **m, kiln_context **ctx,
                     kiln_session **s)
{
    *m = NULL, *ctx = NULL, *s = NULL;
    fprintf(stderr, "kiln %s: loading %s ...\n", cmd, f->model);
    if (model_flags_load(cmd, f->model, f->tokenizer_pre, m)) return 1;
    if (!kiln_model_tokenizer(*m)) {
        fprintf(stderr, "kiln %s: %s has no vocabulary (llama2.c checkpoints and synthetic models have none), so text cannot be tokenized; use a GGUF model\n",
                cmd, f->model);
        return 1;
    }
    kiln_context_options copt = kiln_context_options_default();
    copt.threads = f->threads;
    copt.chooser = &kiln_tune_chooser;
    if (kiln_context_create(f->device, &copt, ctx)) {
        fprintf(stderr, "kiln %s: device %s: %s\n", cmd, f->device, kiln_last_error());
        return 1;
    }
    kiln_session_options so = kiln_session_options_default();
    so.ctx_len = f->ctx ? f->ctx : kiln_model_get_config(*m)->ctx_len;
    so.kv_type = f->kv_type;
    so.max_seqs = max_seqs;
    if (kiln_session_create(*m, *ctx, &so, s)) {
        fprintf(stderr, "kiln %s: %s\n", cmd, kiln_last_error());
        return 1;
    }
    return 0;
}

/* demo/cmd_synth.c — `kiln synth --preset P --type T OUT.gguf`: a synthetic
 * model (random weights, real shapes) written to disk. The same model runs
 * without a file as `kiln run -m synthetic:P-T`. */
#include <stdio.h>
#include <string.h>

#include "demo/commands.h"
#include "kiln/runtime.h"

static void usage(FILE *f)
{
    fprintf(f, "usage: kiln synth --preset tiny|1b|7b|8b [--type TYPE] OUT.gguf\n\n"
               "Writes a Llama-shaped model with random weights (std 0.02, norms ~1): 1b = TinyLlama 1.1B,\n"
               "7b = Llama 2 7B, 8b = Llama 3 8B shapes. TYPE (default q4_0) is any weight type.\n"
               "It has no vocabulary: run it with --prompt-ids.\n");
}

int kiln_cmd_synth(int argc, char **argv)
{
    const char *preset = NULL, *type = "q4_0", *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--preset") && i + 1 < argc) {
            preset = argv[++i];
        } else if (!strcmp(argv[i], "--type") && i + 1 < argc) {
            type = argv[++i];
        } else if (argv[i][0] != '-' && !out) {
            out = argv[i];
        } else {
            fprintf(stderr, "kiln synth: unexpected argument '%s'\n\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!preset || !out) {
        usage(stderr);
        return 2;
    }
    if (kiln_dtype_from_name(type) < 0) {
        fprintf(stderr, "kiln synth: --type: '%s' is not a weight type (see kiln quantize --help)\n", type);
        return 2;
    }
    char spec[128];
    snprintf(spec, sizeof spec, "synthetic:%s-%s", preset, type);
    kiln_model *m = NULL;
    fprintf(stderr, "kiln synth: building %s ...\n", spec);
    if (kiln_model_load(spec, &m) || kiln_model_save_gguf(m, out, -1, NULL, NULL)) {
        fprintf(stderr, "kiln synth: %s\n", kiln_last_error());
        kiln_model_free(m);
        return 1;
    }
    fprintf(stderr, "kiln synth: wrote %s (%.1f MiB of weights)\n", out, (double)kiln_model_weight_bytes(m) / (1 << 20));
    kiln_model_free(m);
    return 0;
}

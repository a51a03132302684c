/* demo/main.c — the kiln command line: `kiln <command> [options]`. */
#include <stdio.h>
#include <string.h>

#include "demo/commands.h"
#include "kiln/kiln.h"

static const kiln_command commands[] = {
    {"run", "generate text with a model (GGUF, llama2.c .bin, or synthetic:<preset>)", kiln_cmd_run},
    {"chat", "talk with an instruct model (its chat template), replies streamed", kiln_cmd_chat},
    {"serve", "an OpenAI-compatible HTTP server: streaming, continuous batching", kiln_cmd_serve},
    {"bench", "benchmark an op (--op) or a model (-m), JSON with --json", kiln_cmd_bench},
    {"demo", "the built-in end-to-end demo on every available backend", kiln_cmd_demo},
    {"devices", "list backends and devices with their capabilities", kiln_cmd_devices},
    {"tokenize", "tokenize text with a GGUF vocabulary, like llama-tokenize", kiln_cmd_tokenize},
    {"convert", "convert a llama2.c checkpoint to GGUF", kiln_cmd_convert},
    {"quantize", "quantize a GGUF model to another weight format", kiln_cmd_quantize},
    {"synth", "write a synthetic model with random weights", kiln_cmd_synth},
    {"perplexity", "perplexity and KL divergence of a model on a text, like llama-perplexity", kiln_cmd_perplexity},
    {"tune", "autotune kernel tiles for a device and cache the winners", kiln_cmd_tune},
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *f)
{
    fprintf(f, "kiln %s — quantized transformer inference kernels\n\n", kiln_version());
    fprintf(f, "usage: kiln <command> [options]   (kiln <command> --help for its options)\n\n");
    fprintf(f, "commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].summary);
    fprintf(f, "\nenvironment: KILN_THREADS, KILN_CPU_ISA=generic|avx2|avx512, KILN_VULKAN_DEVICE=N,\n"
               "             XDG_CACHE_HOME (kernel and tuning caches under $XDG_CACHE_HOME/kiln)\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("kiln %s\n", kiln_version());
        return 0;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].main(argc - 1, argv + 1);
    fprintf(stderr, "kiln: unknown command '%s'\n\n", argv[1]);
    usage(stderr);
    return 2;
}

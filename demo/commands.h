/* demo/commands.h — the subcommands of the kiln command line.
 * Each lives in its own file demo/cmd_<name>.c and returns a process exit code
 * (0 ok, 1 failure, 2 usage error). argv[0] is the subcommand name. */
#ifndef KILN_DEMO_COMMANDS_H
#define KILN_DEMO_COMMANDS_H

typedef struct kiln_command {
    const char *name;
    const char *summary;
    int (*main)(int argc, char **argv);
} kiln_command;

int kiln_cmd_devices(int argc, char **argv);  /* demo/cmd_devices.c */
int kiln_cmd_demo(int argc, char **argv);     /* demo/cmd_demo.c */
int kiln_cmd_bench(int argc, char **argv);    /* demo/cmd_bench.c */
int kiln_cmd_bench_model(int argc, char **argv); /* demo/cmd_bench_model.c (bench -m) */
int kiln_cmd_tokenize(int argc, char **argv); /* demo/cmd_tokenize.c */
int kiln_cmd_run(int argc, char **argv);      /* demo/cmd_run.c */
int kiln_cmd_convert(int argc, char **argv);  /* demo/cmd_convert.c */
int kiln_cmd_quantize(int argc, char **argv); /* demo/cmd_quantize.c */
int kiln_cmd_synth(int argc, char **argv);    /* demo/cmd_synth.c */
int kiln_cmd_tune(int argc, char **argv);     /* demo/cmd_tune.c */
int kiln_cmd_chat(int argc, char **argv);     /* demo/cmd_chat.c */
int kiln_cmd_serve(int argc, char **argv);    /* demo/cmd_serve.c */
int kiln_cmd_perplexity(int argc, char **argv); /* demo/cmd_perplexity.c */

/* `kiln demo`'s rope check (demo/demo_rope_check.c): 0 ok, 1 failed; report gets one line. */
#include "kiln/kiln.h"
int kiln_demo_check_rope(kiln_context *ctx, kiln_dtype cache, char *report, size_t cap);
/* --threads capped at kiln_cpu_cores_available(), with a warning (demo/threads_cap.c); 0 stays 0. */
int kiln_demo_cap_threads(const char *command, int threads);

#endif

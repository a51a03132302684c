/* tests/test_cli_fuzz.c — `kiln run` on corrupted GGUF files, as a user would
 * meet them: bytes flipped in the header, metadata and tensor table (where a
 * loader is most easily fooled), files cut short, and random flips anywhere.
 * Every run must end with exit code 0 (the damage was harmless: a flipped
 * weight byte) or 1 with a "kiln run:" message on stderr — never a signal, a
 * sanitizer report, a hang or a silent failure. Seeded (KILN_TEST_SEED) and
 * reproducible: a failure names the seed, the case and the command. */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/gguf.h"
#include "support/harness.h"
#include "support/files.h"

#define KILN KILN_BINARY_DIR "/bin/kiln"
#define SHARED KILN_SOURCE_DIR "/../shared/"

/* Bytes before the tensor data: header, metadata and tensor table. */
static size_t meta_bytes(const char *path)
{
    kiln_gguf *g = NULL;
    cr_assert_eq(kiln_gguf_open(path, &g), KILN_OK, "%s: %s", path, kiln_last_error());
    size_t n = (size_t)kiln_gguf_data_offset(g);
    kiln_gguf_close(g);
    return n;
}

/* A sanitizer's own exit codes, so that its reports cannot pass for exit 1. */
#define SAN_ENV "ASAN_OPTIONS=exitcode=86:detect_leaks=0 UBSAN_OPTIONS=halt_on_error=1:exitcode=87 "

static void run_corrupted(const char *model, const char *args, int cases)
{
    size_t len = 0;
    unsigned char *orig = (unsigned char *)kt_read_file(model, &len);
    if (!orig) cr_skip_test("%s is absent", model);
    unsigned char *buf = malloc(len);
    const size_t meta = meta_bytes(model);
    cr_assert_not_null(buf);
    char path[] = "/tmp/kiln-fuzz-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    unsigned long long seed = (unsigned long long)kt_seed();
    kt_rng rng = kt_rng_make(0xf022);
    int accepted = 0;
    for (int c = 0; c < cases; c++) {
        memcpy(buf, orig, len);
        size_t n = len;
        switch (c % 4) {
        case 0: /* one byte of the metadata / tensor table set to a random value */
            buf[kt_below(&rng, (int64_t)meta)] = (unsigned char)kt_below(&rng, 256);
            break;
        case 1: /* a 64-bit field of the metadata made huge or negative */
        {
            size_t at = kt_below(&rng, (int64_t)(meta - 8));
            uint64_t v = kt_below(&rng, 2) ? ~0ull - kt_below(&rng, 4) : 1ull << (31 + kt_below(&rng, 32));
            memcpy(buf + at, &v, 8);
            break;
        }
        case 2: /* cut short */
            n = kt_below(&rng, (int64_t)len);
            break;
        default: /* a few bytes anywhere */
            for (int i = 0; i < 4; i++) buf[kt_below(&rng, (int64_t)len)] ^= (unsigned char)(1u << kt_below(&rng, 8));
            break;
        }
        kt_write_file(path, buf, n);
        char cmd[1024], out[4096];
        snprintf(cmd, sizeof cmd, SAN_ENV "timeout 60 " KILN " run -m %s %s 2>&1 >/dev/null", path, args);
        FILE *p = popen(cmd, "r");
        cr_assert_not_null(p);
        size_t got = fread(out, 1, sizeof out - 1, p);
        out[got] = 0;
        int st = pclose(p);
        int code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        cr_assert(code == 0 || code == 1,
                  "seed %llu case %d: `%s` ended with exit code %d (124: hang; 86/87: sanitizer; -1: signal):\n%s",
                  seed, c, cmd, code, out);
        if (code == 1)
            cr_assert_not_null(strstr(out, "kiln run:"), "seed %llu case %d: exit 1 without a message:\n%s", seed, c,
                               out);
        else
            accepted++;
        /* A file cut short is never a model: it must be refused, not run on
         * whatever the missing bytes happen to be. */
        if (n < len)
            cr_assert_eq(code, 1, "seed %llu case %d: a file truncated to %zu of %zu bytes was accepted", seed, c, n,
                         len);
    }
    cr_log_info("%s: %d of %d corrupted files ran (harmless damage), the rest were refused", model, accepted, cases);
    unlink(path);
    free(buf);
    free(orig);
}

/* A llama.cpp-written file with a vocabulary: the prompt goes through the tokenizer. */
Test(cli_fuzz, run_on_corrupted_quantized_gguf, .timeout = 600)
{
    run_corrupted(SHARED "models/stories260K-Q4_K_M.gguf", "-p 'Once upon a time' -n 2 --temp 0", 120);
}

/* A synthetic model written by kiln synth (no vocabulary). */
Test(cli_fuzz, run_on_corrupted_synthetic_gguf, .timeout = 600)
{
    char path[] = "/tmp/kiln-fuzz-synth-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    char cmd[512];
    snprintf(cmd, sizeof cmd, KILN " synth --preset tiny --type q4_k %s >/dev/null 2>&1", path);
    cr_assert_eq(system(cmd), 0, "%s", cmd);
    run_corrupted(path, "--prompt-ids 1,2,3 -n 2 --ctx 64", 80);
    unlink(path);
}

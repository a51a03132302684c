/* tests/fuzz/fuzz_llama2c.c — libFuzzer entry for the llama2.c checkpoint reader.
 *
 * The reader takes a path, so each input goes into a memfd and is read back
 * through /proc/self/fd/N. A header that parses builds the model's weight
 * table over the data read: every weight's first and last float are touched,
 * so a table that points past the data is an ASan report. (make fuzz) */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "runtime/model.h"

static volatile float sink;

static void touch(const kiln_weight *w)
{
    if (!w->data || w->rows <= 0 || w->cols <= 0) return;
    const float *f = w->data;
    sink += f[0] + f[w->rows * w->cols - 1];
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int fd = memfd_create("llama2c", 0);
    if (fd < 0) return 0;
    if (size && write(fd, data, size) != (ssize_t)size) {
        close(fd);
        return 0;
    }
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
    kiln_model *m = kiln_model_alloc();
    if (m && kiln_model_load_llama2c(m, path) == KILN_OK) {
        touch(&m->token_embd);
        touch(&m->output_norm);
        touch(&m->output);
        for (int l = 0; l < m->cfg.n_layers; l++)
            for (int r = 0; r < KILN_ROLE_COUNT; r++) touch(&m->layers[l].w[r]);
    }
    kiln_model_free(m);
    close(fd);
    return 0;
}

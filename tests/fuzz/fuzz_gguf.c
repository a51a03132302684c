/* tests/fuzz/fuzz_gguf.c — libFuzzer entry for the GGUF reader.
 *
 * Build: cmake --build BUILD --target fuzz_gguf (clang, -fsanitize=fuzzer,address,undefined)
 * Run:   BUILD/bin/fuzz_gguf -max_total_time=60 CORPUS_DIR [SEED_FILES...]
 * Good seeds are small valid files: the vocab files under /work/shared/vocab
 * are large, so prefer a few hundred bytes written with kiln_gguf_writer.
 *
 * Each input is parsed from an exactly sized heap copy (so ASan flags any read
 * past its end) and, when it parses, every byte the reader hands out is read
 * back through the public accessors. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "kiln/gguf.h"

static volatile uint64_t sink;

static uint64_t touch_value(const kiln_gguf_value *v)
{
    uint64_t sum = 0;
    if (v->type == KILN_GGUF_STRING) {
        for (uint64_t i = 0; i < v->v.str.len; i++) sum += (uint8_t)v->v.str.ptr[i];
        return sum;
    }
    if (v->type != KILN_GGUF_ARRAY) return v->v.u64;
    for (uint64_t i = 0; i < v->v.arr.count; i++) {
        kiln_gguf_str s;
        kiln_gguf_value inner;
        double d;
        int64_t x;
        if (kiln_gguf_array_str(v, i, &s) == KILN_OK) {
            for (uint64_t j = 0; j < s.len; j++) sum += (uint8_t)s.ptr[j];
        } else if (kiln_gguf_array_arr(v, i, &inner) == KILN_OK) {
            sum += touch_value(&inner);
        } else if (kiln_gguf_array_f64(v, i, &d) == KILN_OK) {
            sum += d == d;
            if (kiln_gguf_array_i64(v, i, &x) == KILN_OK) sum += (uint64_t)x;
        } else if (v->v.arr.elem_type == KILN_GGUF_BOOL) {
            sum += ((const uint8_t *)v->v.arr.data)[i];
        }
    }
    return sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *copy = malloc(size ? size : 1);
    if (!copy) return 0;
    if (size) memcpy(copy, data, size);
    kiln_gguf *g = NULL;
    if (kiln_gguf_open_memory(copy, size, &g) == KILN_OK) {
        uint64_t sum = 0;
        char key[256];
        for (int64_t i = 0; i < kiln_gguf_kv_count(g); i++) {
            kiln_gguf_str k = kiln_gguf_kv_key(g, i);
            if (k.len < sizeof key && !memchr(k.ptr, 0, k.len)) {
                memcpy(key, k.ptr, k.len);
                key[k.len] = '\0';
                if (kiln_gguf_find_key(g, key) != i) abort(); /* keys are unique */
                uint64_t u;
                int64_t x;
                double d;
                int b;
                sum += kiln_gguf_get_u64(g, key, &u) + kiln_gguf_get_i64(g, key, &x) + kiln_gguf_get_f64(g, key, &d) +
                       kiln_gguf_get_bool(g, key, &b);
            }
            sum += touch_value(kiln_gguf_kv_value(g, i));
        }
        for (int64_t i = 0; i < kiln_gguf_tensor_count(g); i++) {
            const kiln_gguf_tensor *t = kiln_gguf_tensor_at(g, i);
            if (t->size) sum += ((const uint8_t *)t->data)[0] + ((const uint8_t *)t->data)[t->size - 1];
        }
        sink = sum;
        kiln_gguf_close(g);
    }
    free(copy);
    return 0;
}

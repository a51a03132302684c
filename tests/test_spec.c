/* tests/test_spec.c — kernel specs: text round trips, names, hashes, validation.
 *
 * The manifest tests iterate whatever the backends list, so they grow as the
 * backends add instances; the random tests cover the space the manifest does
 * not (every op, backend, isa and format, random tiles and flags). */
#include <criterion/criterion.h>
#include <ctype.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kiln/kernel.h"
#include "kiln/spec.h"

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static kiln_spec parse_ok(const char *text)
{
    kiln_spec s;
    kiln_status st = kiln_spec_parse(text, &s);
    cr_assert_eq(st, KILN_OK, "parse \"%s\": %s", text, kiln_last_error());
    return s;
}

/* text -> spec -> text -> spec: the text is a fixed point and the specs are equal. */
static void check_round_trip(const kiln_spec *s)
{
    char text[KILN_SPEC_TEXT_MAX], again[KILN_SPEC_TEXT_MAX];
    cr_assert_eq(kiln_spec_validate(s), KILN_OK, "%s", kiln_last_error());
    int n = kiln_spec_to_text(s, text, sizeof text);
    cr_assert(n > 0, "spec has no text form");
    cr_assert_eq((size_t)n, strlen(text));
    kiln_spec back = parse_ok(text);
    cr_assert(kiln_spec_equal(s, &back), "round trip changed \"%s\"", text);
    cr_assert_eq(kiln_spec_to_text(&back, again, sizeof again), n);
    cr_assert_str_eq(text, again);
    cr_assert_eq(kiln_spec_hash(s), fnv1a(text), "hash of \"%s\" is not FNV-1a of its text", text);
}

static void check_identifier(const char *name)
{
    cr_assert(name[0] && !isdigit((unsigned char)name[0]), "name \"%s\" starts badly", name);
    for (const char *p = name; *p; p++)
        cr_assert(isalnum((unsigned char)*p) || *p == '_', "name \"%s\" has '%c'", name, *p);
}

Test(spec, manifest_round_trips_and_names_are_unique)
{
    size_t n = kiln_manifest_count();
    char(*names)[KILN_SPEC_NAME_MAX] = calloc(n ? n : 1, KILN_SPEC_NAME_MAX);
    for (size_t i = 0; i < n; i++) {
        const kiln_spec *s = kiln_manifest_get(i);
        cr_assert_not_null(s);
        check_round_trip(s);
        cr_assert(kiln_spec_name(s, names[i], KILN_SPEC_NAME_MAX) > 0);
        check_identifier(names[i]);
        for (size_t j = 0; j < i; j++)
            cr_assert_str_neq(names[i], names[j], "manifest entries %zu and %zu share the name %s", j, i, names[i]);
    }
    cr_assert_null(kiln_manifest_get(n));
    free(names);
}

/* ------------------------------------------------------------ random valid specs */

static int pick(const int *v, int n) { return v[rand() % n]; }

static kiln_spec random_spec(void)
{
    static const int ops[] = {KILN_OP_MATMUL, KILN_OP_FLASH_ATTN, KILN_OP_PAGED_ATTN, KILN_OP_NORM};
    static const int pow2[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    kiln_op op = (kiln_op)pick(ops, 4);
    kiln_backend be = (kiln_backend)(rand() % KILN_BACKEND_COUNT);
    kiln_isa isa = be == KILN_BACKEND_CPU ? (kiln_isa)(1 + rand() % (KILN_ISA_COUNT - 1)) : KILN_ISA_NONE;
    kiln_dtype fmt = (kiln_dtype)(rand() % KILN_I32);
    kiln_spec s = kiln_spec_default(op, be, isa, fmt);
    /* perturb: random tiles where used, random dtypes and flags; invalid ones are redrawn */
    if (s.tile.tm) s.tile.tm = pick(pow2, 9);
    if (s.tile.tn) s.tile.tn = 1 + rand() % 200;
    if (s.tile.tk) s.tile.tk *= 1 + rand() % 4;
    if (s.tile.threads) s.tile.threads = 32 * (1 + rand() % 32);
    if (s.tile.stages) s.tile.stages = 1 + rand() % 8;
    if (s.tile.vec) s.tile.vec = pick(pow2, 7);
    if (op == KILN_OP_PAGED_ATTN) s.tile.split = rand() % 17;
    if (op == KILN_OP_MATMUL) {
        s.epilogue = (unsigned)(rand() % 32);
        s.act = (kiln_dtype)(rand() % 3);
        s.out = (kiln_dtype)(rand() % 3);
    }
    if (op == KILN_OP_NORM) s.epilogue = (unsigned)(rand() % 4);
    if (op == KILN_OP_FLASH_ATTN || op == KILN_OP_PAGED_ATTN) {
        s.head_dim = 8 * (rand() % 33);
        s.act = (kiln_dtype)(rand() % 3);
        s.out = rand() % 2 ? s.act : (kiln_dtype)(rand() % 3); /* O may differ from Q */
        if (be != KILN_BACKEND_CPU && rand() % 2) s.acc = KILN_F16;
    }
    return s;
}

Test(spec, random_specs_round_trip_in_any_field_order)
{
    unsigned seed = (unsigned)time(NULL);
    srand(seed);
    int valid = 0;
    for (int i = 0; i < 4000 && valid < 1000; i++) {
        kiln_spec s = random_spec();
        if (kiln_spec_validate(&s) != KILN_OK) continue;
        valid++;
        check_round_trip(&s);
        /* the same words reversed parse to the same spec */
        char text[KILN_SPEC_TEXT_MAX], rev[KILN_SPEC_TEXT_MAX] = "";
        kiln_spec_to_text(&s, text, sizeof text);
        char *words[32];
        int nw = 0;
        for (char *w = strtok(text, " "); w && nw < 32; w = strtok(NULL, " ")) words[nw++] = w;
        for (int k = nw - 1; k >= 0; k--) {
            strcat(rev, words[k]);
            strcat(rev, k ? "  " : "");
        }
        kiln_spec back = parse_ok(rev);
        cr_assert(kiln_spec_equal(&s, &back), "reordered \"%s\" parsed differently (seed %u)", rev, seed);
        char name[KILN_SPEC_NAME_MAX];
        cr_assert(kiln_spec_name(&s, name, sizeof name) > 0);
        check_identifier(name);
    }
    cr_assert(valid >= 500, "only %d of the random specs were valid (seed %u)", valid, seed);
}

/* Different specs get different names: names are keys of caches and tuning results. */
Test(spec, random_specs_with_equal_names_are_equal)
{
    enum { N = 1500 };
    static kiln_spec specs[N];
    static char names[N][KILN_SPEC_NAME_MAX];
    unsigned seed = (unsigned)time(NULL) ^ 0x5bd1e995u;
    srand(seed);
    int n = 0;
    for (int i = 0; i < 6 * N && n < N; i++) {
        kiln_spec s = random_spec();
        if (kiln_spec_validate(&s) != KILN_OK) continue;
        specs[n] = s;
        kiln_spec_name(&s, names[n], KILN_SPEC_NAME_MAX);
        n++;
    }
    for (int i = 0; i < n; i++)
        for (int j = 0; j < i; j++)
            if (!strcmp(names[i], names[j]))
                cr_assert(kiln_spec_equal(&specs[i], &specs[j]), "two specs named %s (seed %u)", names[i], seed);
}

Test(spec, defaults_are_valid_for_every_op_backend_and_format)
{
    for (int op = 0; op < KILN_OP_COUNT; op++)
        for (int be = 0; be < KILN_BACKEND_COUNT; be++)
            for (int isa = 0; isa < KILN_ISA_COUNT; isa++)
                for (int t = 0; t < KILN_I32; t++) {
                    kiln_dtype fmt = (kiln_dtype)t;
                    int meaningful = op == KILN_OP_MATMUL ? kiln_dtype_get(fmt)->is_weight_format
                                     : op == KILN_OP_PAGED_ATTN
                                         ? (fmt == KILN_F32 || fmt == KILN_F16 || fmt == KILN_Q8_0)
                                         : (fmt == KILN_F32 || fmt == KILN_F16 || fmt == KILN_BF16);
                    if (!meaningful) continue;
                    kiln_spec s = kiln_spec_default((kiln_op)op, (kiln_backend)be, (kiln_isa)isa, fmt);
                    cr_assert_eq(kiln_spec_validate(&s), KILN_OK, "default %s/%s/%s/%s: %s",
                                 kiln_op_name((kiln_op)op), kiln_backend_name((kiln_backend)be),
                                 kiln_isa_name((kiln_isa)isa), kiln_dtype_get(fmt)->name, kiln_last_error());
                    check_round_trip(&s);
                }
}

/* ------------------------------------------------------------ fixed values */

Test(spec, canonical_text_and_name_of_known_specs)
{
    static const struct { const char *in, *text, *name; } cases[] = {
        {"matmul backend=cuda fmt=q4_0 epi=bias+residual tm=4 tn=64 tk=256 threads=128 stages=2 vec=16 split=1",
         "matmul backend=cuda fmt=q4_0 epi=bias+residual tm=4 tn=64 tk=256 threads=128 stages=2 vec=16 split=1",
         "matmul_cuda_q4_0_f32_f32_bias_residual_tm4_tn64_tk256_t128_s2_v16_k1"},
        {"  hd=128 tn=64 threads=4 fmt=f16 act=f16 backend=cpu-avx2 tm=64 flash_attn ",
         "flash_attn backend=cpu-avx2 fmt=f16 act=f16 hd=128 tm=64 tn=64 threads=4",
         "flash_attn_cpu_avx2_f16_f16_f16_hd128_tm64_tn64_t4"},
        /* explicit defaults vanish; out follows act */
        {"norm backend=vulkan fmt=bf16 act=bf16 out=bf16 acc=f32 epi=residual+layer threads=256 vec=16 hd=0 tm=0",
         "norm backend=vulkan fmt=bf16 act=bf16 epi=layer+residual threads=256 vec=16",
         "norm_vulkan_bf16_bf16_bf16_layer_residual_t256_v16"},
        /* attention output in another dtype than the queries */
        {"flash_attn backend=vulkan fmt=f16 act=bf16 out=f32 tm=32 tn=32 threads=64 stages=1",
         "flash_attn backend=vulkan fmt=f16 act=bf16 out=f32 tm=32 tn=32 threads=64 stages=1",
         "flash_attn_vulkan_f16_bf16_f32_tm32_tn32_t64_s1"},
        {"op=paged_attn backend=cuda fmt=q8_0 act=f16 acc=f16 hd=128 tn=32 threads=128 epi=none",
         "paged_attn backend=cuda fmt=q8_0 act=f16 acc=f16 hd=128 tn=32 threads=128",
         "paged_attn_cuda_q8_0_f16_f16_accf16_hd128_tn32_t128"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_spec s = parse_ok(cases[i].in);
        char text[KILN_SPEC_TEXT_MAX], name[KILN_SPEC_NAME_MAX];
        kiln_spec_to_text(&s, text, sizeof text);
        kiln_spec_name(&s, name, sizeof name);
        cr_assert_str_eq(text, cases[i].text);
        cr_assert_str_eq(name, cases[i].name);
    }
}

/* Hashes key on-disk caches: these values must never change between runs,
 * machines or releases (a change invalidates every user's cache). */
Test(spec, hash_is_stable)
{
    kiln_spec a = parse_ok("matmul backend=cuda fmt=q4_0 epi=bias+residual tm=4 tn=64 tk=256 threads=128 stages=2 "
                           "vec=16 split=1");
    cr_assert_eq(kiln_spec_hash(&a), 0x17904a36498183eaull, "got 0x%016llx", (unsigned long long)kiln_spec_hash(&a));
    kiln_spec b = parse_ok("flash_attn backend=cpu-avx2 fmt=f16 act=f16 hd=128 tm=64 tn=64 threads=4");
    cr_assert_eq(kiln_spec_hash(&b), fnv1a("flash_attn backend=cpu-avx2 fmt=f16 act=f16 hd=128 tm=64 tn=64 threads=4"));
    cr_assert_neq(kiln_spec_hash(&a), kiln_spec_hash(&b));
    b.tile.tm = 32;
    cr_assert_neq(kiln_spec_hash(&b), fnv1a("flash_attn backend=cpu-avx2 fmt=f16 act=f16 hd=128 tm=64 tn=64 threads=4"));
}

Test(spec, text_and_name_report_small_buffers)
{
    kiln_spec s = kiln_spec_default(KILN_OP_MATMUL, KILN_BACKEND_CUDA, KILN_ISA_NONE, KILN_Q4_K);
    char buf[16];
    memset(buf, 'x', sizeof buf);
    cr_assert_eq(kiln_spec_to_text(&s, buf, sizeof buf), -1);
    cr_assert_eq(buf[0], '\0');
    cr_assert_eq(kiln_spec_name(&s, buf, sizeof buf), -1);
    char full[KILN_SPEC_TEXT_MAX];
    int n = kiln_spec_to_text(&s, full, sizeof full);
    cr_assert_eq(kiln_spec_to_text(&s, full, (size_t)n), -1, "no room for the NUL");
    cr_assert_eq(kiln_spec_to_text(&s, full, (size_t)n + 1), n);
}

Test(spec, equal_compares_every_field)
{
    kiln_spec a = kiln_spec_default(KILN_OP_MATMUL, KILN_BACKEND_CPU, KILN_ISA_AVX2, KILN_Q8_0);
    kiln_spec b = a;
    cr_assert(kiln_spec_equal(&a, &b));
    b.isa = KILN_ISA_AVX512;
    cr_assert_not(kiln_spec_equal(&a, &b));
    b = a;
    b.tile.split = 2;
    cr_assert_not(kiln_spec_equal(&a, &b));
    b = a;
    b.epilogue = KILN_EPI_SWIGLU;
    cr_assert_not(kiln_spec_equal(&a, &b));
    cr_assert_str_eq(kiln_op_name(KILN_OP_PAGED_ATTN), "paged_attn");
    cr_assert_str_eq(kiln_isa_name(KILN_ISA_AVX512), "avx512");
}

/* ------------------------------------------------------------ rejections */

Test(spec, rejects_bad_text_and_invalid_combinations_with_a_reason)
{
    static const struct { const char *text, *reason; } cases[] = {
        {"", "no op"},
        {"backend=cuda fmt=q4_0", "no op"},
        {"matmul fmt=q4_0 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1", "no backend"},
        {"matmal backend=cuda", "'matmal'"},
        {"matmul norm backend=cuda", "duplicate op"},
        {"matmul backend=cuda backend=vulkan", "duplicate backend"},
        {"matmul backend=cuda fmt=q4_0 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1 tm=8", "duplicate tm"},
        {"matmul backend=cuda fmt=q4_0 colour=red", "unknown key 'colour'"},
        {"matmul backend=metal", "'metal'"},
        {"matmul backend=cpu-neon", "'cpu-neon'"},
        {"matmul backend=cuda fmt=q9_9", "'q9_9'"},
        {"matmul backend=cuda fmt=q4_0 tm=-4", "'-4'"},
        {"matmul backend=cuda fmt=q4_0 tm=4x", "'4x'"},
        {"matmul backend=cuda fmt=q4_0 tm=", "bad value '' for tm"},
        {"matmul backend=cuda fmt=q4_0 epi=bias+relu", "'relu' is not an epilogue of matmul"},
        {"matmul backend=cuda fmt=q4_0 epi=bias+bias", "given twice"},
        {"matmul backend=cuda fmt=q4_0 epi=bias+", "bad value 'bias+'"},
        {"norm backend=cuda epi=swiglu threads=256 vec=16", "not an epilogue of norm"},
        {"flash_attn backend=cuda epi=bias tm=64 tn=64 threads=128 stages=1", "not an epilogue of flash_attn"},
        /* combinations */
        {"matmul backend=cpu-neon fmt=q4_0 tm=4 tn=8 tk=256 stages=1 vec=16 split=1", "bad value 'cpu-neon'"},
        {"matmul backend=cuda fmt=q8_k tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1", "not a weight format"},
        {"matmul backend=cuda fmt=i32 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1", "not a weight format"},
        {"matmul backend=cuda fmt=q4_k tm=4 tn=8 tk=128 threads=128 stages=1 vec=16 split=1", "multiple of the q4_k block (256)"},
        {"matmul backend=cuda fmt=q4_0 tm=4 tn=8 tk=256 threads=100 stages=1 vec=16 split=1", "threads=100"},
        {"matmul backend=vulkan fmt=q4_0 tm=4 tn=8 tk=256 threads=2048 stages=1 vec=16 split=1", "threads=2048"},
        {"matmul backend=cuda fmt=q4_0 tm=4 tn=8 tk=256 threads=128 stages=1 vec=12 split=1", "vec=12"},
        {"matmul backend=cuda fmt=q4_0 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16", "split=0: matmul needs split > 0"},
        {"matmul backend=cuda fmt=q4_0 tm=4 tn=8 tk=256 threads=128 stages=9 vec=16 split=1", "stages=9"},
        {"matmul backend=cuda fmt=q4_0 hd=64 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1", "hd=64"},
        {"matmul backend=cuda fmt=q4_0 act=q4_0 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1", "act=q4_0"},
        {"matmul backend=cuda fmt=q4_0 acc=f16 tm=4 tn=8 tk=256 threads=128 stages=1 vec=16 split=1", "acc=f16"},
        {"matmul backend=cuda fmt=q4_0 tm=5000 tn=8 tk=256 threads=128 stages=1 vec=16 split=1", "tm=5000"},
        {"flash_attn backend=cuda fmt=q4_0 tm=64 tn=64 threads=128 stages=1", "flash_attn K/V are f32, f16 or bf16"},
        {"norm backend=cuda fmt=f16 act=f16 out=f32 threads=256 vec=16", "out=f32 with act=f16"},
        {"flash_attn backend=cuda fmt=f16 hd=100 tm=64 tn=64 threads=128 stages=1", "hd=100"},
        {"flash_attn backend=cuda fmt=f16 hd=264 tm=64 tn=64 threads=128 stages=1", "hd=264"},
        {"flash_attn backend=cuda fmt=f16 tm=64 tn=64 tk=64 threads=128 stages=1", "does not use tk"},
        {"flash_attn backend=cpu-avx2 fmt=f16 acc=f16 tm=64 tn=64", "acc=f16"},
        {"paged_attn backend=cuda fmt=bf16 tn=32 threads=128", "f32, f16 or q8_0"},
        {"paged_attn backend=cuda fmt=q8_0 hd=72 tn=32 threads=128", "multiple of 32"},
        {"paged_attn backend=cuda fmt=f16 tm=4 tn=32 threads=128", "does not use tm"},
        {"paged_attn backend=vulkan fmt=f16 threads=128", "tn=0"},
        {"norm backend=cuda fmt=q4_0 act=f32 threads=256 vec=16", "norm has one dtype"},
        {"norm backend=cuda threads=256", "vec=0"},
        {"norm backend=cpu-generic threads=512 vec=16", "at most 256 workers"},
        {"matmul backend=cpu-avx2 fmt=q4_0 tm=4 tn=512 tk=256 stages=1 vec=32 split=1", "tn=512: cpu matmul column blocks"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        kiln_spec s;
        memset(&s, 0x5a, sizeof s);
        kiln_spec before = s;
        kiln_status st = kiln_spec_parse(cases[i].text, &s);
        cr_assert_eq(st, KILN_ERR_INVALID_ARG, "\"%s\" was accepted", cases[i].text);
        cr_assert(strstr(kiln_last_error(), cases[i].reason), "\"%s\": reason \"%s\" lacks \"%s\"", cases[i].text,
                  kiln_last_error(), cases[i].reason);
        cr_assert(!memcmp(&s, &before, sizeof s), "\"%s\": out written on failure", cases[i].text);
    }
}

Test(spec, validate_rejects_out_of_range_enums_and_isa_mismatch)
{
    kiln_spec s = kiln_spec_default(KILN_OP_NORM, KILN_BACKEND_CUDA, KILN_ISA_NONE, KILN_F16);
    cr_assert_eq(kiln_spec_validate(&s), KILN_OK, "%s", kiln_last_error());
    kiln_spec bad = s;
    bad.isa = KILN_ISA_AVX2;
    cr_assert_eq(kiln_spec_validate(&bad), KILN_ERR_INVALID_ARG);
    cr_assert(strstr(kiln_last_error(), "for backend=cpu only"), "%s", kiln_last_error());
    bad = s;
    bad.op = KILN_OP_COUNT;
    cr_assert_eq(kiln_spec_validate(&bad), KILN_ERR_INVALID_ARG);
    cr_assert_eq(kiln_spec_hash(&bad), 0, "no text, no hash");
    bad = s;
    bad.fmt = (kiln_dtype)99;
    cr_assert_eq(kiln_spec_validate(&bad), KILN_ERR_INVALID_ARG);
    cr_assert(strstr(kiln_last_error(), "fmt"), "%s", kiln_last_error());
    bad = s;
    bad.epilogue = 1u << 5;
    cr_assert_eq(kiln_spec_validate(&bad), KILN_ERR_INVALID_ARG);
    char text[KILN_SPEC_TEXT_MAX];
    cr_assert_eq(kiln_spec_to_text(&bad, text, sizeof text), -1, "flags with no name have no text");
    cr_assert_eq(kiln_spec_validate(NULL), KILN_ERR_INVALID_ARG);
    cr_assert_eq(kiln_spec_parse(NULL, &s), KILN_ERR_INVALID_ARG);
}

/* Mangled texts never crash the parser: each is either a valid spec (which then
 * round-trips) or rejected with a reason. */
Test(spec, mangled_texts_are_parsed_or_rejected_with_a_reason)
{
    unsigned seed = (unsigned)time(NULL) ^ 0x9e3779b9u;
    srand(seed);
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz_0123456789=+- \t";
    for (int i = 0; i < 3000; i++) {
        kiln_spec s = random_spec();
        char text[KILN_SPEC_TEXT_MAX + 8];
        if (kiln_spec_to_text(&s, text, KILN_SPEC_TEXT_MAX) < 0) continue;
        size_t len = strlen(text);
        int edits = 1 + rand() % 3;
        for (int k = 0; k < edits && len > 0; k++) {
            size_t at = (size_t)rand() % len;
            switch (rand() % 3) {
            case 0: text[at] = alphabet[rand() % (int)(sizeof alphabet - 1)]; break; /* replace */
            case 1: text[at] = '\0'; len = at; break;                                 /* truncate */
            default: memmove(text + at, text + at + 1, len - at); len--; break;      /* delete */
            }
        }
        kiln_spec out;
        kiln_status st = kiln_spec_parse(text, &out);
        if (st == KILN_OK) {
            check_round_trip(&out);
        } else {
            cr_assert_eq(st, KILN_ERR_INVALID_ARG, "\"%s\" (seed %u)", text, seed);
            cr_assert(strlen(kiln_last_error()) > 0, "\"%s\" rejected without a reason", text);
        }
    }
}

static void *read_manifest(void *arg)
{
    (void)arg;
    size_t n = kiln_manifest_count();
    return n ? (void *)kiln_manifest_get(n - 1) : NULL;
}

/* The manifest is joined once, whichever thread asks first. */
Test(spec, manifest_is_joined_once_across_threads)
{
    pthread_t th[4];
    void *got[4];
    for (int i = 0; i < 4; i++) cr_assert_eq(pthread_create(&th[i], NULL, read_manifest, NULL), 0);
    for (int i = 0; i < 4; i++) cr_assert_eq(pthread_join(th[i], &got[i]), 0);
    for (int i = 1; i < 4; i++) cr_assert_eq(got[i], got[0]);
    cr_assert_eq(got[0], read_manifest(NULL));
}

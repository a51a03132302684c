/* tests/support/data.c — random data, host encodings and test tensors. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kernels/core/backend.h" /* buffer -> context, to synchronize before downloads */
#include "kernels/ref/ref.h"
#include "support/harness.h"

/* ---------------------------------------------------------------- random */

static uint64_t splitmix(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

uint64_t kt_seed(void)
{
    static uint64_t seed;
    static int have;
    if (!have) {
        const char *env = getenv("KILN_TEST_SEED");
        if (env && *env) {
            seed = strtoull(env, NULL, 0);
        } else {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t x = (uint64_t)ts.tv_sec * 1000000007ull ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)getpid() << 32);
            seed = splitmix(&x) & 0xffffffffffull; /* short enough to retype */
        }
        have = 1;
    }
    return seed;
}

kt_rng kt_rng_make(uint64_t tag)
{
    uint64_t x = kt_seed() ^ (tag * 0xd1342543de82ef95ull);
    kt_rng r = {splitmix(&x), 0.0, 0};
    return r;
}

uint64_t kt_next(kt_rng *r) { return splitmix(&r->s); }

double kt_uniform(kt_rng *r) { return (double)(kt_next(r) >> 11) * (1.0 / 9007199254740992.0); }

double kt_gauss(kt_rng *r)
{
    if (r->has_spare) {
        r->has_spare = 0;
        return r->spare;
    }
    double u1 = kt_uniform(r), u2 = kt_uniform(r);
    if (u1 < 1e-300) u1 = 1e-300;
    const double rad = sqrt(-2.0 * log(u1)), ang = 6.283185307179586 * u2;
    r->spare = rad * sin(ang);
    r->has_spare = 1;
    return rad * cos(ang);
}

int64_t kt_below(kt_rng *r, int64_t n) { return n <= 1 ? 0 : (int64_t)(kt_next(r) % (uint64_t)n); }

float *kt_randn(kt_rng *r, size_t n, double mean, double sigma)
{
    float *p = malloc((n ? n : 1) * sizeof *p);
    cr_assert_not_null(p, "harness: out of memory for %zu floats", n);
    for (size_t i = 0; i < n; i++) p[i] = (float)(mean + sigma * kt_gauss(r));
    return p;
}

/* ---------------------------------------------------------------- encoding */

const char *kt_dtype_name(kiln_dtype t)
{
    const kiln_dtype_info *info = kiln_dtype_get(t);
    return info ? info->name : "?";
}

void *kt_encode(kiln_dtype t, const float *src, int64_t rows, int64_t cols, size_t *bytes)
{
    size_t row = kiln_row_bytes(t, cols);
    cr_assert(row > 0, "harness: %lld columns are not a whole number of %s blocks", (long long)cols, kt_dtype_name(t));
    unsigned char *dst = malloc(row * (size_t)rows);
    cr_assert_not_null(dst, "harness: out of memory encoding %lld x %lld %s", (long long)rows, (long long)cols, kt_dtype_name(t));
    for (int64_t i = 0; i < rows; i++) {
        const float *s = src + i * cols;
        unsigned char *d = dst + (size_t)i * row;
        if (t == KILN_I32) {
            for (int64_t j = 0; j < cols; j++) {
                int32_t v = (int32_t)s[j];
                memcpy(d + 4 * j, &v, 4);
            }
        } else if (t == KILN_F32) {
            memcpy(d, s, row);
        } else if (t == KILN_F16 || t == KILN_BF16) {
            for (int64_t j = 0; j < cols; j++) {
                uint16_t h = t == KILN_F16 ? kiln_f32_to_f16(s[j]) : kiln_f32_to_bf16(s[j]);
                memcpy(d + 2 * j, &h, 2);
            }
        } else {
            size_t w = kiln_quantize_row(t, s, d, cols);
            cr_assert_eq(w, row, "harness: kiln_quantize_row(%s, %lld) wrote %zu bytes, expected %zu", kt_dtype_name(t),
                         (long long)cols, w, row);
        }
    }
    if (bytes) *bytes = row * (size_t)rows;
    return dst;
}

void kt_decode(kiln_dtype t, const void *src, int64_t n, double *dst)
{
    kiln_status st = kiln_ref_load_row(t, src, n, dst);
    cr_assert_eq(st, KILN_OK, "harness: decoding %lld %s: %s", (long long)n, kt_dtype_name(t), kiln_last_error());
}

/* ---------------------------------------------------------------- tensors */

int64_t kt_numel(const kiln_tensor *t)
{
    int64_t n = 1;
    for (int d = 0; d < t->ndim; d++) n *= t->ne[d];
    return n;
}

static size_t packed_row_count(const kiln_tensor *t)
{
    size_t rows = 1;
    for (int d = 0; d < t->ndim - 1; d++) rows *= (size_t)t->ne[d];
    return rows;
}

/* Byte offset (from t->offset) of packed row r. */
static size_t row_offset(const kiln_tensor *t, size_t r)
{
    size_t off = 0;
    for (int d = t->ndim - 2; d >= 0; d--) {
        size_t i = r % (size_t)t->ne[d];
        r /= (size_t)t->ne[d];
        off += i * (size_t)t->nb[d];
    }
    return off;
}

kiln_tensor kt_tensor_strided(kiln_context *ctx, kiln_dtype dtype, int ndim, const int64_t *ne,
                              const int64_t *nb, size_t offset, const void *host)
{
    kiln_tensor t = kiln_tensor_make(NULL, offset, dtype, ndim, ne);
    if (nb)
        for (int d = 0; d < ndim - 1; d++) t.nb[d] = nb[d];
    size_t span = kiln_tensor_bytes(&t);
    cr_assert(span > 0, "harness: tensor of %s with ndim=%d has no valid span", kt_dtype_name(dtype), ndim);
    kiln_buffer *b = NULL;
    kiln_status st = kiln_buffer_alloc(ctx, offset + span, &b);
    cr_assert_eq(st, KILN_OK, "harness: kiln_buffer_alloc(%zu) failed: %s", offset + span, kiln_last_error());
    t.buf = b;
    kt_poison_buffer(b);
    if (host) {
        const size_t row = kiln_row_bytes(dtype, ne[ndim - 1]), rows = packed_row_count(&t);
        if (!nb) {
            st = kiln_buffer_upload(b, offset, host, row * rows);
            cr_assert_eq(st, KILN_OK, "harness: upload failed: %s", kiln_last_error());
        } else {
            for (size_t r = 0; r < rows; r++) {
                st = kiln_buffer_upload(b, offset + row_offset(&t, r), (const char *)host + r * row, row);
                cr_assert_eq(st, KILN_OK, "harness: upload failed: %s", kiln_last_error());
            }
        }
    }
    return t;
}

kiln_tensor kt_tensor(kiln_context *ctx, kiln_dtype t, int ndim, const int64_t *ne, const void *host)
{
    return kt_tensor_strided(ctx, t, ndim, ne, NULL, 0, host);
}

void kt_tensor_free(kiln_tensor *t)
{
    if (t->buf) kiln_buffer_free(t->buf);
    t->buf = NULL;
}

void kt_poison_buffer(kiln_buffer *b)
{
    size_t n = kiln_buffer_size(b);
    void *p = malloc(n);
    cr_assert_not_null(p);
    memset(p, 0xff, n);
    kiln_status st = kiln_buffer_upload(b, 0, p, n);
    free(p);
    cr_assert_eq(st, KILN_OK, "harness: poisoning a buffer of %zu bytes failed: %s", n, kiln_last_error());
}

void kt_poison(const kiln_tensor *t)
{
    const size_t row = kiln_row_bytes(t->dtype, t->ne[t->ndim - 1]), rows = packed_row_count(t);
    void *p = malloc(row);
    cr_assert_not_null(p);
    memset(p, 0xff, row);
    for (size_t r = 0; r < rows; r++) {
        kiln_status st = kiln_buffer_upload(t->buf, t->offset + row_offset(t, r), p, row);
        cr_assert_eq(st, KILN_OK, "harness: poisoning failed: %s", kiln_last_error());
    }
    free(p);
}

void *kt_download(const kiln_tensor *t, size_t *bytes)
{
    const size_t row = kiln_row_bytes(t->dtype, t->ne[t->ndim - 1]), rows = packed_row_count(t);
    kiln_status st = kiln_synchronize(t->buf->ctx);
    cr_assert_eq(st, KILN_OK, "harness: kiln_synchronize failed: %s", kiln_last_error());
    unsigned char *p = malloc(row * rows);
    cr_assert_not_null(p);
    for (size_t r = 0; r < rows; r++) {
        st = kiln_buffer_download(t->buf, t->offset + row_offset(t, r), p + r * row, row);
        cr_assert_eq(st, KILN_OK, "harness: download failed: %s", kiln_last_error());
    }
    if (bytes) *bytes = row * rows;
    return p;
}

void *kt_snapshot(kiln_buffer *b)
{
    size_t n = kiln_buffer_size(b);
    void *p = malloc(n);
    cr_assert_not_null(p);
    kiln_status st = kiln_buffer_download(b, 0, p, n);
    cr_assert_eq(st, KILN_OK, "harness: snapshot download failed: %s", kiln_last_error());
    return p;
}

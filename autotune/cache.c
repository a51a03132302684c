/* autotune/cache.c — the per-device tuning file.
 *
 * $XDG_CACHE_HOME/kiln/tune/<device-key>.json:
 *   {"kiln_tune_version": 1, "kiln_version": "0.1.0", "device_key": "...",
 *    "entries": [{"class": "...", "shape": "...", "default_spec": "...",
 *                 "tuned_spec": "...", "default_us": 1.5, "tuned_us": 1.2,
 *                 "tried": 9, "rejected": 0}, ...]}
 * A file of another version, device or kiln release is stale; one that does
 * not parse, or whose specs do not validate, is corrupt. Either way it is
 * reported (c->problem) and not used; the next save replaces it. */
#include <ctype.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "autotune/tune_internal.h"
#include "kernels/core/fsutil.h"

kiln_status kiln_tune_device_key(const kiln_context *ctx, char *buf, size_t cap)
{
    if (!ctx || !buf) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_tune_device_key: NULL argument");
    const kiln_device_info *d = &ctx->info;
    char raw[512];
    if (d->backend == KILN_BACKEND_CPU)
        snprintf(raw, sizeof raw, "cpu-%s-%s", kiln_isa_name(ctx->isa), d->name);
    else if (d->compute_major)
        snprintf(raw, sizeof raw, "%s-%s-%s-sm%d%d-%s", kiln_backend_name(d->backend), d->vendor, d->name,
                 d->compute_major, d->compute_minor, d->driver);
    else
        snprintf(raw, sizeof raw, "%s-%s-%s-%s", kiln_backend_name(d->backend), d->vendor, d->name, d->driver);
    size_t j = 0;
    for (size_t i = 0; raw[i] && j + 1 < cap; i++) {
        unsigned char c = (unsigned char)raw[i];
        if (isalnum(c) || c == '.') buf[j++] = (char)tolower(c);
        else if (j > 0 && buf[j - 1] != '-') buf[j++] = '-';
    }
    while (j > 0 && buf[j - 1] == '-') j--;
    if (cap) buf[j] = '\0';
    return KILN_OK;
}

kiln_status kiln_tune_cache_path(const kiln_context *ctx, char *buf, size_t cap)
{
    char key[256];
    kiln_status st = kiln_tune_device_key(ctx, key, sizeof key);
    if (st != KILN_OK) return st;
    int n = snprintf(buf, cap, "%s/tune/%s.json", ctx->cache_dir, key);
    if (n < 0 || (size_t)n >= cap) return kiln_fail(KILN_ERR_INVALID_ARG, "tuning cache path too long");
    return KILN_OK;
}

/* ---- writing */

static void put_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') fprintf(f, "\\%c", c);
        else if (c < 0x20) fprintf(f, "\\u%04x", c);
        else fputc(c, f);
    }
    fputc('"', f);
}

/* The entries of the file as it is now (another process may have tuned other
 * classes since this one loaded it) that c does not have, appended to m. */
static void merge_from_disk(const char *path, const char *key, struct kiln_tune_cache *m)
{
    void *data;
    size_t len;
    if (kiln_read_file(path, &data, &len) != KILN_OK) {
        kiln_clear_error();
        return;
    }
    struct kiln_tune_cache disk = {0};
    if (kiln_tune_cache_parse(key, data, len, &disk) == KILN_OK)
        for (size_t i = 0; i < disk.n; i++)
            if (!kiln_tune_cache_find(m, disk.e[i].r.shape_class)) kiln_tune_cache_put(m, &disk.e[i].r);
    kiln_clear_error(); /* a stale or corrupt file is simply replaced */
    kiln_tune_cache_clear(&disk);
    free(data);
}

static kiln_status write_cache(const char *path, const char *key, const struct kiln_tune_cache *c);

/* Two processes tuning at once: each saves under an exclusive lock on
 * "<file>.lock", merging what the other saved first, so the file ends valid
 * (it is replaced atomically) and with both processes' classes. */
kiln_status kiln_tune_cache_save(const kiln_context *ctx, const struct kiln_tune_cache *c)
{
    char path[2048], key[256], lock_path[2100];
    kiln_status st = kiln_tune_cache_path(ctx, path, sizeof path);
    if (st == KILN_OK) st = kiln_tune_device_key(ctx, key, sizeof key);
    if (st != KILN_OK) return st;
    struct kiln_tune_cache merged = {0};
    for (size_t i = 0; i < c->n; i++)
        if (kiln_tune_cache_put(&merged, &c->e[i].r) != KILN_OK) {
            kiln_tune_cache_clear(&merged);
            return kiln_fail_prefix(KILN_ERR_OUT_OF_MEMORY, "tune: saving");
        }
    snprintf(lock_path, sizeof lock_path, "%s.lock", path);
    char dir[2048];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) *slash = '\0', kiln_mkdir_p(dir);
    int lock = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (lock >= 0 && flock(lock, LOCK_EX) != 0) close(lock), lock = -1; /* no lock: still atomic, last writer wins */
    merge_from_disk(path, key, &merged);
    st = write_cache(path, key, &merged);
    if (lock >= 0) close(lock); /* releases the lock */
    kiln_tune_cache_clear(&merged);
    return st;
}

static kiln_status write_cache(const char *path, const char *key, const struct kiln_tune_cache *c)
{
    kiln_status st;
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    if (!f) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
    fprintf(f, "{\n  \"kiln_tune_version\": %d,\n  \"kiln_version\": ", KILN_TUNE_FILE_VERSION);
    put_str(f, kiln_version());
    fprintf(f, ",\n  \"device_key\": ");
    put_str(f, key);
    fprintf(f, ",\n  \"entries\": [");
    for (size_t i = 0; i < c->n; i++) {
        const kiln_tune_result *r = &c->e[i].r;
        fprintf(f, "%s\n    {\"class\": ", i ? "," : "");
        put_str(f, r->shape_class);
        fprintf(f, ", \"shape\": ");
        put_str(f, r->shape);
        fprintf(f, ",\n     \"default_spec\": ");
        put_str(f, r->default_spec);
        fprintf(f, ",\n     \"tuned_spec\": ");
        put_str(f, r->tuned_spec);
        fprintf(f, ",\n     \"default_us\": %.4f, \"tuned_us\": %.4f, \"tried\": %d, \"rejected\": %d}",
                r->default_us, r->tuned_us, r->tried, r->rejected);
    }
    fprintf(f, "\n  ]\n}\n");
    fclose(f);
    st = kiln_write_file_atomic(path, text, len);
    free(text);
    return st;
}

/* ---- reading: a small JSON reader for exactly this shape of file */

typedef struct reader {
    const char *p, *end;
    char err[160];
} reader;

static void skip_ws(reader *r)
{
    while (r->p < r->end && isspace((unsigned char)*r->p)) r->p++;
}

static int expect(reader *r, char c)
{
    skip_ws(r);
    if (r->p < r->end && *r->p == c) {
        r->p++;
        return 1;
    }
    if (!r->err[0]) snprintf(r->err, sizeof r->err, "expected '%c'", c);
    return 0;
}

static int read_str(reader *r, char *out, size_t cap)
{
    if (!expect(r, '"')) return 0;
    size_t n = 0;
    while (r->p < r->end && *r->p != '"') {
        char c = *r->p++;
        if (c == '\\') {
            if (r->p >= r->end) break;
            c = *r->p++;
            if (c == 'u') {
                unsigned v = 0;
                for (int i = 0; i < 4 && r->p < r->end; i++) {
                    char h = *r->p++;
                    v = v * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower((unsigned char)h) - 'a' + 10));
                }
                c = v < 0x80 ? (char)v : '?';
            } else if (c == 'n') c = '\n';
            else if (c == 't') c = '\t';
        }
        if (n + 1 >= cap) {
            snprintf(r->err, sizeof r->err, "string too long");
            return 0;
        }
        out[n++] = c;
    }
    out[n] = '\0';
    if (r->p >= r->end) {
        snprintf(r->err, sizeof r->err, "unterminated string");
        return 0;
    }
    r->p++;
    return 1;
}

static int read_num(reader *r, double *v)
{
    skip_ws(r);
    /* strtod needs a terminated string: the file's bytes are not one */
    char buf[64];
    size_t n = 0;
    while (r->p + n < r->end && n + 1 < sizeof buf && strchr("+-.0123456789eE", r->p[n])) n++;
    memcpy(buf, r->p, n);
    buf[n] = '\0';
    char *end;
    *v = strtod(buf, &end);
    if (end == buf || !isfinite(*v)) {
        snprintf(r->err, sizeof r->err, "expected a number");
        return 0;
    }
    r->p += end - buf;
    return 1;
}

/* A count from the file, clamped (a cast of an out-of-range double is undefined). */
static int count_of(double v) { return v > 0 ? v < 1e9 ? (int)v : 1000000000 : 0; }

static int read_entry(reader *r, kiln_tune_result *e)
{
    memset(e, 0, sizeof *e);
    if (!expect(r, '{')) return 0;
    int fields = 0;
    for (;;) {
        char key[64];
        if (!read_str(r, key, sizeof key) || !expect(r, ':')) return 0;
        double v = 0;
        int ok;
        if (!strcmp(key, "class")) ok = read_str(r, e->shape_class, sizeof e->shape_class), fields |= 1;
        else if (!strcmp(key, "shape")) ok = read_str(r, e->shape, sizeof e->shape);
        else if (!strcmp(key, "default_spec")) ok = read_str(r, e->default_spec, sizeof e->default_spec);
        else if (!strcmp(key, "tuned_spec")) ok = read_str(r, e->tuned_spec, sizeof e->tuned_spec), fields |= 2;
        else if (!strcmp(key, "default_us")) ok = read_num(r, &v), e->default_us = v;
        else if (!strcmp(key, "tuned_us")) ok = read_num(r, &v), e->tuned_us = v;
        else if (!strcmp(key, "tried")) ok = read_num(r, &v), e->tried = count_of(v);
        else if (!strcmp(key, "rejected")) ok = read_num(r, &v), e->rejected = count_of(v);
        else {
            snprintf(r->err, sizeof r->err, "unknown entry field '%s'", key);
            return 0;
        }
        if (!ok) return 0;
        skip_ws(r);
        if (r->p < r->end && *r->p == ',') {
            r->p++;
            continue;
        }
        if (!expect(r, '}')) return 0;
        if (fields != 3) snprintf(r->err, sizeof r->err, "entry without class or tuned_spec");
        return fields == 3;
    }
}

kiln_status kiln_tune_cache_parse(const char *want_key, const char *text, size_t len, struct kiln_tune_cache *c)
{
    reader r = {.p = text, .end = text + len};
    char key[64], str[256];
    double version = -1;
    int have_entries = 0;
    if (!expect(&r, '{')) goto bad;
    for (;;) {
        if (!read_str(&r, key, sizeof key) || !expect(&r, ':')) goto bad;
        if (!strcmp(key, "kiln_tune_version")) {
            if (!read_num(&r, &version)) goto bad;
            if (version != KILN_TUNE_FILE_VERSION)
                return kiln_fail(KILN_ERR_FORMAT, "stale: file version %g, this kiln writes %d", version,
                                 KILN_TUNE_FILE_VERSION);
        } else if (!strcmp(key, "kiln_version")) {
            if (!read_str(&r, str, sizeof str)) goto bad;
            if (strcmp(str, kiln_version()))
                return kiln_fail(KILN_ERR_FORMAT, "stale: tuned by kiln %s, this is %s", str, kiln_version());
        } else if (!strcmp(key, "device_key")) {
            if (!read_str(&r, str, sizeof str)) goto bad;
            if (strcmp(str, want_key))
                return kiln_fail(KILN_ERR_FORMAT, "stale: tuned for '%s', this device is '%s'", str, want_key);
        } else if (!strcmp(key, "entries")) {
            have_entries = 1;
            if (!expect(&r, '[')) goto bad;
            skip_ws(&r);
            if (r.p < r.end && *r.p == ']') r.p++;
            else
                for (;;) {
                    kiln_tune_result e;
                    if (!read_entry(&r, &e)) goto bad;
                    if (kiln_tune_cache_put(c, &e) != KILN_OK) return KILN_ERR_FORMAT;
                    skip_ws(&r);
                    if (r.p < r.end && *r.p == ',') {
                        r.p++;
                        continue;
                    }
                    if (!expect(&r, ']')) goto bad;
                    break;
                }
        } else {
            snprintf(r.err, sizeof r.err, "unknown field '%s'", key);
            goto bad;
        }
        skip_ws(&r);
        if (r.p < r.end && *r.p == ',') {
            r.p++;
            continue;
        }
        if (!expect(&r, '}')) goto bad;
        break;
    }
    if (version < 0 || !have_entries) return kiln_fail(KILN_ERR_FORMAT, "corrupt: missing version or entries");
    return KILN_OK;
bad:
    return kiln_fail(KILN_ERR_FORMAT, "corrupt: %s (near byte %ld)", r.err[0] ? r.err : "syntax error",
                     (long)(r.p - text));
}

kiln_status kiln_tune_cache_load(const kiln_context *ctx, struct kiln_tune_cache *c)
{
    kiln_tune_cache_clear(c);
    c->loaded = 1;
    c->problem[0] = '\0';
    char path[2048];
    kiln_status st = kiln_tune_cache_path(ctx, path, sizeof path);
    if (st != KILN_OK) return st;
    void *data;
    size_t len;
    if (kiln_read_file(path, &data, &len) != KILN_OK) { /* no file: nothing tuned, and no error either */
        kiln_clear_error();
        return KILN_OK;
    }
    char want_key[256];
    kiln_tune_device_key(ctx, want_key, sizeof want_key);
    st = kiln_tune_cache_parse(want_key, data, len, c);
    free(data);
    if (st != KILN_OK) {
        snprintf(c->problem, sizeof c->problem, "%s: %s", path, kiln_last_error());
        kiln_tune_cache_clear(c); /* never trust part of a bad file */
        return kiln_fail(KILN_ERR_FORMAT, "%s", c->problem);
    }
    return KILN_OK;
}

kiln_status kiln_tune_cache_put(struct kiln_tune_cache *c, const kiln_tune_result *r)
{
    kiln_spec spec;
    if (kiln_spec_parse(r->tuned_spec, &spec) != KILN_OK)
        return kiln_fail_prefix(KILN_ERR_FORMAT, "corrupt: entry '%s' has an invalid spec", r->shape_class);
    const char *bar = strstr(r->shape_class, " | ");
    if (!bar) return kiln_fail(KILN_ERR_FORMAT, "corrupt: class '%s' has no band", r->shape_class);
    int band = -1;
    for (int b = 0; b < kiln_tune_band_count(spec.op); b++)
        if (!strcmp(bar + 3, kiln_tune_band_name(spec.op, b))) band = b;
    if (band < 0) return kiln_fail(KILN_ERR_FORMAT, "corrupt: class '%s' has an unknown band", r->shape_class);

    kiln_tune_entry *e = NULL;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].r.shape_class, r->shape_class)) e = &c->e[i];
    if (!e) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 16;
            kiln_tune_entry *v = realloc(c->e, cap * sizeof *v);
            if (!v) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
            c->e = v;
            c->cap = cap;
        }
        e = &c->e[c->n++];
    }
    e->r = *r;
    e->spec = spec;
    e->trust = 0; /* a new spec: lookup checks it again */
    e->band = band;
    size_t base_len = (size_t)(bar - r->shape_class);
    if (base_len >= sizeof e->base_key) base_len = sizeof e->base_key - 1;
    memcpy(e->base_key, r->shape_class, base_len);
    e->base_key[base_len] = '\0';
    return KILN_OK;
}

const kiln_tune_entry *kiln_tune_cache_find(const struct kiln_tune_cache *c, const char *class_key)
{
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->e[i].r.shape_class, class_key)) return &c->e[i];
    return NULL;
}

void kiln_tune_cache_clear(struct kiln_tune_cache *c)
{
    free(c->e);
    c->e = NULL;
    c->n = c->cap = 0;
}

kiln_status kiln_tune_cache_read(const kiln_context *ctx, kiln_tune_result **results, size_t *n)
{
    if (!ctx || !results || !n) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_tune_cache_read: NULL argument");
    *results = NULL;
    *n = 0;
    struct kiln_tune_cache c = {0};
    kiln_status st = kiln_tune_cache_load(ctx, &c);
    if (st != KILN_OK) return st;
    if (c.n) {
        *results = malloc(c.n * sizeof **results);
        if (!*results) {
            kiln_tune_cache_clear(&c);
            return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory");
        }
        for (size_t i = 0; i < c.n; i++) (*results)[i] = c.e[i].r;
    }
    *n = c.n;
    kiln_tune_cache_clear(&c);
    return KILN_OK;
}

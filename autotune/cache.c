/* autotune/cache.c — the per-device tuning file.
 *
 * $XDG_CACHE_HOME/kiln/tune/<device-key>.json:
 *   {"kiln_tune_version": 1, "kiln_version": "0.1.0", "device_key": "...",
 *    "entries": [{"class": "...", "shape": "...", "default_spec": "...",
 *                 "tuned_spec": "...", "default_us": 1.5, "tuned_us": 1.2,
 *                 "tried": 9, "rejected": 0}, ...]}
 * A file of another version, device or kiln release is stale; one that does
 * not parse, or whose specs do not validate, is corrupt. Either way it is
 * reported (c->problem) and not used; the next save replaces it. The file
 * is read and written with jansson; every field is type-checked. */
#include <ctype.h>
#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

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
    json_t *entries = json_array();
    for (size_t i = 0; entries && i < c->n; i++) {
        const kiln_tune_result *r = &c->e[i].r;
        if (json_array_append_new(entries, json_pack("{s:s, s:s, s:s, s:s, s:f, s:f, s:i, s:i}", "class", r->shape_class,
                                                     "shape", r->shape, "default_spec", r->default_spec, "tuned_spec",
                                                     r->tuned_spec, "default_us", r->default_us, "tuned_us",
                                                     r->tuned_us, "tried", r->tried, "rejected", r->rejected)))
            json_decref(entries), entries = NULL;
    }
    json_t *doc = entries ? json_pack("{s:i, s:s, s:s, s:o}", "kiln_tune_version", KILN_TUNE_FILE_VERSION,
                                      "kiln_version", kiln_version(), "device_key", key, "entries", entries)
                          : NULL;
    char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    json_decref(doc);
    if (!text) return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "tune: out of memory writing the cache");
    size_t len = strlen(text);
    text[len] = '\n'; /* json_dumps leaves room for its NUL: the file ends with a newline instead */
    kiln_status st = kiln_write_file_atomic(path, text, len + 1);
    free(text);
    return st;
}

/* ---- reading (jansson), trusting nothing: every field checked for its type */

/* A count from the file, clamped (a cast of an out-of-range double is undefined). */
static int count_of(double v) { return v > 0 ? v < 1e9 ? (int)v : 1000000000 : 0; }

/* s into out[cap]; 0 when it is not a string or does not fit. */
static int copy_str(const json_t *s, char *out, size_t cap)
{
    if (!json_is_string(s) || json_string_length(s) >= cap || strlen(json_string_value(s)) != json_string_length(s))
        return 0; /* an embedded NUL would cut the spec short */
    memcpy(out, json_string_value(s), json_string_length(s) + 1);
    return 1;
}

static int read_number(const json_t *v, double *out)
{
    if (!json_is_number(v) || !isfinite(json_number_value(v))) return 0;
    *out = json_number_value(v);
    return 1;
}

static int read_entry(const json_t *o, kiln_tune_result *e, char *err, size_t cap)
{
    memset(e, 0, sizeof *e);
    if (!json_is_object(o)) return snprintf(err, cap, "an entry is not an object"), 0;
    const char *key;
    json_t *v;
    int fields = 0;
    json_object_foreach((json_t *)o, key, v) {
        double d = 0;
        int ok;
        if (!strcmp(key, "class")) ok = copy_str(v, e->shape_class, sizeof e->shape_class), fields |= 1;
        else if (!strcmp(key, "shape")) ok = copy_str(v, e->shape, sizeof e->shape);
        else if (!strcmp(key, "default_spec")) ok = copy_str(v, e->default_spec, sizeof e->default_spec);
        else if (!strcmp(key, "tuned_spec")) ok = copy_str(v, e->tuned_spec, sizeof e->tuned_spec), fields |= 2;
        else if (!strcmp(key, "default_us")) ok = read_number(v, &d), e->default_us = d;
        else if (!strcmp(key, "tuned_us")) ok = read_number(v, &d), e->tuned_us = d;
        else if (!strcmp(key, "tried")) ok = read_number(v, &d), e->tried = count_of(d);
        else if (!strcmp(key, "rejected")) ok = read_number(v, &d), e->rejected = count_of(d);
        else return snprintf(err, cap, "unknown entry field '%.40s'", key), 0;
        if (!ok) return snprintf(err, cap, "entry field '%s' has the wrong type or is too long", key), 0;
    }
    if (fields != 3) return snprintf(err, cap, "entry without class or tuned_spec"), 0;
    return 1;
}

kiln_status kiln_tune_cache_parse(const char *want_key, const char *text, size_t len, struct kiln_tune_cache *c)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!doc) return kiln_fail(KILN_ERR_FORMAT, "corrupt: %s (byte %d)", jerr.text, jerr.position);
    kiln_status st = KILN_OK;
    char err[160] = "";
    json_t *version = json_object_get(doc, "kiln_tune_version"), *entries = json_object_get(doc, "entries");
    json_t *release = json_object_get(doc, "kiln_version"), *device = json_object_get(doc, "device_key");
    const char *key;
    json_t *v;
    if (!json_is_object(doc)) snprintf(err, sizeof err, "not a JSON object");
    else
        json_object_foreach(doc, key, v)
            if (strcmp(key, "kiln_tune_version") && strcmp(key, "kiln_version") && strcmp(key, "device_key") &&
                strcmp(key, "entries")) {
                snprintf(err, sizeof err, "unknown field '%.40s'", key);
                break;
            }
    if (err[0]) st = kiln_fail(KILN_ERR_FORMAT, "corrupt: %s", err);
    else if (!json_is_number(version) || !json_is_array(entries))
        st = kiln_fail(KILN_ERR_FORMAT, "corrupt: missing version or entries");
    else if (json_number_value(version) != KILN_TUNE_FILE_VERSION)
        st = kiln_fail(KILN_ERR_FORMAT, "stale: file version %g, this kiln writes %d", json_number_value(version),
                       KILN_TUNE_FILE_VERSION);
    else if (release && (!json_is_string(release) || strcmp(json_string_value(release), kiln_version())))
        st = kiln_fail(KILN_ERR_FORMAT, "stale: tuned by kiln %.40s, this is %s",
                       json_is_string(release) ? json_string_value(release) : "(not a string)", kiln_version());
    else if (device && (!json_is_string(device) || strcmp(json_string_value(device), want_key)))
        st = kiln_fail(KILN_ERR_FORMAT, "stale: tuned for '%.120s', this device is '%s'",
                       json_is_string(device) ? json_string_value(device) : "(not a string)", want_key);
    for (size_t i = 0; st == KILN_OK && i < json_array_size(entries); i++) {
        kiln_tune_result e;
        if (!read_entry(json_array_get(entries, i), &e, err, sizeof err))
            st = kiln_fail(KILN_ERR_FORMAT, "corrupt: entry %zu: %s", i, err);
        else if (kiln_tune_cache_put(c, &e) != KILN_OK)
            st = KILN_ERR_FORMAT;
    }
    json_decref(doc);
    return st;
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

/* demo/args.c — strict parsing of command-line values (see args.h). */
#include "demo/args.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_LIST_VALUES 4096

/* strtoll over a prefix of s; *end after the digits. 0 ok, -1 not a number
 * here (nothing read, or leading space that strtoll would skip), -2 overflow. */
static int scan_ll(const char *s, const char **end, long long *out)
{
    if (!*s || isspace((unsigned char)*s)) return -1;
    char *e;
    errno = 0;
    long long v = strtoll(s, &e, 10);
    if (e == s) return -1;
    *end = e;
    if (errno == ERANGE) return -2;
    *out = v;
    return 0;
}

/* The messages name the value; in a list, the item and then the whole list. */
static int not_integer_in(const char *cmd, const char *opt, const char *s, const char *list)
{
    if (list && strcmp(list, s)) fprintf(stderr, "%s: %s: '%s' in '%s' is not an integer\n", cmd, opt, s, list);
    else fprintf(stderr, "%s: %s: '%s' is not an integer\n", cmd, opt, s);
    return -1;
}

static int out_of_range_in(const char *cmd, const char *opt, const char *s, long long lo, long long hi,
                           const char *list)
{
    if (list && strcmp(list, s))
        fprintf(stderr, "%s: %s: %s in '%s' is out of range (%lld..%lld)\n", cmd, opt, s, list, lo, hi);
    else fprintf(stderr, "%s: %s: %s is out of range (%lld..%lld)\n", cmd, opt, s, lo, hi);
    return -1;
}

static int not_integer(const char *cmd, const char *opt, const char *s) { return not_integer_in(cmd, opt, s, NULL); }

static int out_of_range(const char *cmd, const char *opt, const char *s, long long lo, long long hi)
{
    return out_of_range_in(cmd, opt, s, lo, hi, NULL);
}

int kiln_arg_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi, long long *out)
{
    const char *end = s;
    long long v = 0;
    int r = scan_ll(s, &end, &v);
    if (r == -1 || *end) return not_integer(cmd, opt, s);
    if (r == -2 || v < lo || v > hi) return out_of_range(cmd, opt, s, lo, hi);
    *out = v;
    return 0;
}

int kiln_arg_i32(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out)
{
    long long v;
    if (kiln_arg_int(cmd, opt, s, lo, hi, &v)) return -1;
    *out = (int)v;
    return 0;
}

int kiln_arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out)
{
    if (!isdigit((unsigned char)*s)) return not_integer(cmd, opt, s);
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end) return not_integer(cmd, opt, s);
    if (errno == ERANGE) {
        fprintf(stderr, "%s: %s: %s is out of range (0..%llu)\n", cmd, opt, s, (unsigned long long)UINT64_MAX);
        return -1;
    }
    *out = (uint64_t)v;
    return 0;
}

int kiln_arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out)
{
    char *end;
    errno = 0;
    double v = *s && !isspace((unsigned char)*s) ? strtod(s, &end) : 0.0;
    if (!*s || isspace((unsigned char)*s) || *end || strpbrk(s, "xX")) { /* decimal only: no hex floats */
        fprintf(stderr, "%s: %s: '%s' is not a number\n", cmd, opt, s);
        return -1;
    }
    if (!isfinite(v) || errno == ERANGE) {
        fprintf(stderr, "%s: %s: '%s' is not a finite number\n", cmd, opt, s);
        return -1;
    }
    if (v < lo || v > hi) {
        fprintf(stderr, "%s: %s: %s is out of range (%g..%g)\n", cmd, opt, s, lo, hi);
        return -1;
    }
    *out = v;
    return 0;
}

int kiln_arg_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out)
{
    double v;
    if (kiln_arg_double(cmd, opt, s, lo, hi, &v)) return -1;
    *out = (float)v;
    return 0;
}

int kiln_int_list_push(kiln_int_list *l, int v)
{
    if (l->n == l->cap) {
        int cap = l->cap ? 2 * l->cap : 8;
        int *b = realloc(l->v, (size_t)cap * sizeof *b);
        if (!b) return -1;
        l->v = b;
        l->cap = cap;
    }
    l->v[l->n++] = v;
    return 0;
}

void kiln_int_list_free(kiln_int_list *l)
{
    free(l->v);
    *l = (kiln_int_list){0};
}

/* One item of a list: "N", "A-B", "A-B+S" or "A-B*M"; *s moves past it. */
static int parse_item(const char *cmd, const char *opt, const char *whole, const char **s, int lo, int hi,
                      kiln_int_list *l)
{
    const char *p = *s, *end = p;
    char item[64]; /* the item as typed, for messages */
    size_t item_len = strcspn(p, ",");
    snprintf(item, sizeof item, "%.*s", (int)(item_len < sizeof item ? item_len : sizeof item - 1), p);
    long long first, last, step = 1;
    char how = '+';
    int r = scan_ll(p, &end, &first);
    if (r == -1) return not_integer_in(cmd, opt, item, whole);
    if (r == -2 || first < lo || first > hi) return out_of_range_in(cmd, opt, item, lo, hi, whole);
    last = first;
    if (*end == '-') {
        p = end + 1;
        r = scan_ll(p, &end, &last);
        if (r == -1 || *p == '-' || *p == '+') return not_integer_in(cmd, opt, item, whole);
        if (r == -2 || last < lo || last > hi) return out_of_range_in(cmd, opt, item, lo, hi, whole);
        if (last < first) {
            fprintf(stderr, "%s: %s: in '%s' the range %lld-%lld runs backwards\n", cmd, opt, whole, first, last);
            return -1;
        }
        if (*end == '+' || *end == '*') {
            how = *end;
            p = end + 1;
            r = scan_ll(p, &end, &step);
            if (r == -1 || *p == '-' || *p == '+') return not_integer_in(cmd, opt, item, whole);
            if (r == -2 || step < (how == '*' ? 2 : 1)) {
                fprintf(stderr, "%s: %s: in '%s' the %s must be at least %d\n", cmd, opt, whole,
                        how == '*' ? "multiplier" : "step", how == '*' ? 2 : 1);
                return -1;
            }
            if (step > (1LL << 32)) step = 1LL << 32; /* past any int: one value, and no overflow below */
        }
    }
    if (*end && *end != ',') return not_integer_in(cmd, opt, item, whole);
    for (long long v = first; v <= last; v = how == '*' ? v * step : v + step) {
        if (v == 0 && how == '*') { /* 0*M stays 0: take it once, then go on from 1 */
            if (kiln_int_list_push(l, 0)) goto oom;
            v = 1;
            if (v > last) break;
        }
        if (l->n >= MAX_LIST_VALUES) {
            fprintf(stderr, "%s: %s: '%s' gives more than %d values\n", cmd, opt, whole, MAX_LIST_VALUES);
            return -1;
        }
        if (kiln_int_list_push(l, (int)v)) goto oom;
    }
    *s = end;
    return 0;
oom:
    fprintf(stderr, "%s: %s: out of memory\n", cmd, opt);
    return -1;
}

int kiln_arg_int_list(const char *cmd, const char *opt, const char *s, int lo, int hi, kiln_int_list *l)
{
    if (!l->given) l->n = 0; /* the user's values replace the defaults */
    l->given = 1;
    const char *p = s;
    do {
        if (parse_item(cmd, opt, s, &p, lo, hi, l)) return -1;
    } while (*p++ == ',');
    return 0;
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t kiln_arg_unescape(char *s)
{
    char *out = s;
    for (const char *p = s; *p; p++) {
        if (*p != '\\' || !p[1]) {
            *out++ = *p;
            continue;
        }
        switch (p[1]) {
        case 'n': *out++ = '\n', p++; break;
        case 'r': *out++ = '\r', p++; break;
        case 't': *out++ = '\t', p++; break;
        case '\'': *out++ = '\'', p++; break;
        case '"': *out++ = '"', p++; break;
        case '\\': *out++ = '\\', p++; break;
        case 'x':
            if (hex_digit(p[2]) >= 0 && hex_digit(p[3]) >= 0) {
                *out++ = (char)(hex_digit(p[2]) * 16 + hex_digit(p[3]));
                p += 3;
            } else {
                *out++ = *p; /* not an escape: kept as written */
            }
            break;
        default: *out++ = *p; break;
        }
    }
    *out = 0;
    return (size_t)(out - s);
}

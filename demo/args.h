/* demo/args.h — strict parsing of command-line values for every kiln command.
 *
 * A value is the whole string or nothing: "5x", "", " 5", "nan", "inf" and
 * numbers outside the option's range are refused, never read as 0 or as a
 * prefix. On a bad value the functions print one line naming the command,
 * the option and the value ("kiln run: -n: 'abc' is not an integer") to
 * stderr and return -1; the caller then exits with 2 (a usage error).
 *
 * List options take llama-bench's syntax, each value one case (one row of
 * the benchmark table): "64,128,256", a range "first-last" (step 1),
 * "first-last+step" or "first-last*mult"; an option given twice appends. */
#ifndef KILN_DEMO_ARGS_H
#define KILN_DEMO_ARGS_H

#include <stddef.h>
#include <stdint.h>

/* An integer in lo..hi. */
int kiln_arg_int(const char *cmd, const char *opt, const char *s, long long lo, long long hi, long long *out);
/* The same, for an int (lo and hi must fit an int). */
int kiln_arg_i32(const char *cmd, const char *opt, const char *s, int lo, int hi, int *out);
/* An unsigned 64-bit integer (seeds): digits only, no sign. */
int kiln_arg_u64(const char *cmd, const char *opt, const char *s, uint64_t *out);
/* A finite number in lo..hi. */
int kiln_arg_double(const char *cmd, const char *opt, const char *s, double lo, double hi, double *out);
int kiln_arg_float(const char *cmd, const char *opt, const char *s, double lo, double hi, float *out);

/* llama.cpp's -e: \n \r \t \' \" \\ and \xHH in s become the characters they
 * stand for, in place; any other backslash stays as it is. Returns the new
 * length (a \x00 may shorten the text as C sees it). */
size_t kiln_arg_unescape(char *s);

/* A growing list of ints (the values of a list option). */
typedef struct kiln_int_list {
    int *v;
    int n, cap;
    int given; /* the option appeared: its values replace the defaults */
} kiln_int_list;

/* Appends the values of s (see above), each in lo..hi. The first call for an
 * option drops the list's default values. At most 4096 values in all. */
int kiln_arg_int_list(const char *cmd, const char *opt, const char *s, int lo, int hi, kiln_int_list *l);
/* Appends one value without checks (defaults); -1 when out of memory. */
int kiln_int_list_push(kiln_int_list *l, int v);
void kiln_int_list_free(kiln_int_list *l);

#endif

/* demo/files.c — files named on the command line (see files.h). */
#include "demo/files.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static char *read_stream(FILE *f, size_t *len)
{
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap) break;
        char *b = realloc(buf, 2 * cap + 1);
        if (!b) {
            free(buf);
            return NULL;
        }
        buf = b;
        cap *= 2;
    }
    if (buf) buf[n] = 0;
    *len = n;
    return buf;
}

char *kiln_read_text_file(const char *cmd, const char *what, const char *path, size_t *len)
{
    const char *name = path ? path : "standard input";
    FILE *f = stdin;
    if (path) {
        struct stat st;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
            fprintf(stderr, "%s: %s %s: is a directory, not a file\n", cmd, what, path);
            return NULL;
        }
        if (!(f = fopen(path, "rb"))) {
            fprintf(stderr, "%s: %s %s: %s\n", cmd, what, path, strerror(errno));
            return NULL;
        }
    }
    errno = 0;
    char *text = read_stream(f, len);
    int err = ferror(f) ? (errno ? errno : EIO) : 0;
    if (f != stdin) fclose(f);
    if (!text || err) {
        fprintf(stderr, "%s: %s %s: %s\n", cmd, what, name, err ? strerror(err) : "out of memory");
        free(text);
        return NULL;
    }
    return text;
}

FILE *kiln_open_for_writing(const char *cmd, const char *what, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) fprintf(stderr, "%s: %s %s: %s\n", cmd, what, path, strerror(errno));
    return f;
}

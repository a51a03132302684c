/* demo/files.h — reading the files a user names on the command line, with
 * errors that say which file and why (strerror, "is a directory"). */
#ifndef KILN_DEMO_FILES_H
#define KILN_DEMO_FILES_H

#include <stddef.h>
#include <stdio.h>

/* The whole of path (or of f when path is NULL: standard input), NUL-terminated,
 * malloc'ed; *len its length. On failure prints "CMD: WHAT PATH: reason" and
 * returns NULL. */
char *kiln_read_text_file(const char *cmd, const char *what, const char *path, size_t *len);
/* Opens path for writing; on failure prints "CMD: WHAT PATH: reason", NULL. */
FILE *kiln_open_for_writing(const char *cmd, const char *what, const char *path);

#endif

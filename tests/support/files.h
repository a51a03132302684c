/* tests/support/files.h — whole files in and out, for tests that read data
 * files or write variants of them. */
#ifndef KILN_TESTS_FILES_H
#define KILN_TESTS_FILES_H

#include <stddef.h>

/* The whole file, malloc'ed, with a NUL after its *len bytes (so text files
 * are strings); NULL when it cannot be read. */
char *kt_read_file(const char *path, size_t *len);

/* Writes len bytes as the whole file; fails the test when it cannot. */
void kt_write_file(const char *path, const void *data, size_t len);

#endif

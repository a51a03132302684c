/* kernels/core/fsutil.c — cache directory, mkdir -p, atomic writes, reads. */
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/error.h"
#include "kernels/core/fsutil.h"

kiln_status kiln_cache_dir_resolve(const char *dir, char *out, size_t cap)
{
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    int n;
    if (dir && *dir) n = snprintf(out, cap, "%s", dir);
    else if (xdg && *xdg) n = snprintf(out, cap, "%s/kiln", xdg);
    else if (home && *home) n = snprintf(out, cap, "%s/.cache/kiln", home);
    else n = snprintf(out, cap, "/tmp/kiln-cache-%d", (int)getuid());
    if (n < 0 || (size_t)n >= cap) return kiln_fail(KILN_ERR_INVALID_ARG, "cache directory path too long");
    return KILN_OK;
}

kiln_status kiln_mkdir_p(const char *path)
{
    char buf[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof buf) return kiln_fail(KILN_ERR_INVALID_ARG, "bad directory path '%s'", path);
    memcpy(buf, path, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (buf[i] != '/' && buf[i] != '\0') continue;
        char c = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return kiln_fail(KILN_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
        buf[i] = c;
    }
    return KILN_OK;
}

kiln_status kiln_write_file_atomic(const char *path, const void *data, size_t len)
{
    static atomic_uint counter;
    char dir[4096], tmp[4200];
    size_t n = strlen(path);
    if (n >= sizeof dir) return kiln_fail(KILN_ERR_INVALID_ARG, "path too long: '%s'", path);
    memcpy(dir, path, n + 1);
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = '\0';
        kiln_status st = kiln_mkdir_p(dir);
        if (st != KILN_OK) return st;
    }
    snprintf(tmp, sizeof tmp, "%s.tmp.%d.%u", path, (int)getpid(), atomic_fetch_add(&counter, 1));
    FILE *f = fopen(tmp, "wb");
    if (!f) return kiln_fail(KILN_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
    int ok = fwrite(data, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return kiln_fail(KILN_ERR_IO, "cannot write '%s': %s", path, strerror(e));
    }
    return KILN_OK;
}

kiln_status kiln_read_file(const char *path, void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return kiln_fail(KILN_ERR_IO, "cannot open '%s': %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || st.st_size < 0) {
        fclose(f);
        return kiln_fail(KILN_ERR_IO, "cannot stat '%s'", path);
    }
    size_t size = (size_t)st.st_size;
    char *buf = malloc(size + 1);
    if (!buf) {
        fclose(f);
        return kiln_fail(KILN_ERR_OUT_OF_MEMORY, "reading '%s': out of memory (%zu bytes)", path, size);
    }
    size_t got = fread(buf, 1, size, f);
    fclose(f);
    if (got != size) {
        free(buf);
        return kiln_fail(KILN_ERR_IO, "short read on '%s'", path);
    }
    buf[size] = '\0';
    *data = buf;
    *len = size;
    return KILN_OK;
}

/* tests/support/models.c — finding the files `make models` fetched. */
#include "support/models.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MANIFEST KILN_SOURCE_DIR "/.ci/models.txt"

/* The models folder, as .ci/models.py resolves it. */
static void models_dir(char *out, size_t cap)
{
    const char *d = getenv("KILN_MODELS_DIR");
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (d && *d) snprintf(out, cap, "%s", d);
    else if (xdg && *xdg) snprintf(out, cap, "%s/kiln/models", xdg);
    else snprintf(out, cap, "%s/.cache/kiln/models", home ? home : ".");
}

/* The manifest line of name: its file and size. 0 if not listed. */
static int manifest_entry(const char *name, char *file, size_t cap, long long *bytes)
{
    FILE *f = fopen(MANIFEST, "r");
    if (!f) return 0;
    char line[1024], n[128], fl[512];
    int found = 0;
    while (!found && fgets(line, sizeof line, f)) {
        if (line[0] == '#') continue;
        if (sscanf(line, "%127s %511s %lld", n, fl, bytes) == 3 && strcmp(n, name) == 0) {
            snprintf(file, cap, "%s", fl);
            found = 1;
        }
    }
    fclose(f);
    return found;
}

char *kt_model_path(const char *name, char *why, size_t cap)
{
    char file[512], dir[512];
    long long bytes = 0;
    if (!manifest_entry(name, file, sizeof file, &bytes)) {
        snprintf(why, cap, "'%s' is not listed in %s", name, MANIFEST);
        return NULL;
    }
    models_dir(dir, sizeof dir);
    size_t n = strlen(dir) + strlen(file) + 2;
    char *path = malloc(n);
    if (!path) {
        snprintf(why, cap, "out of memory");
        return NULL;
    }
    snprintf(path, n, "%s/%s", dir, file);
    struct stat st;
    if (stat(path, &st) != 0) {
        snprintf(why, cap, "%s is absent: `make models` fetches it (offline? its notice says)", path);
    } else if ((long long)st.st_size != bytes) {
        snprintf(why, cap, "%s is %lld bytes, .ci/models.txt lists %lld: run `make models` again", path,
                 (long long)st.st_size, bytes);
    } else {
        return path;
    }
    free(path);
    return NULL;
}

const char *kt_smollm2_path(void)
{
    static char *path;
    char why[768];
    if (!path) path = kt_model_path("smollm2", why, sizeof why);
    return path;
}

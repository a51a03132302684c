/* kernels/cuda/cuda_sass.c — nvdisasm on a cubin, and the key instructions of
 * each function in its output (see cuda_sass.h). */
#include <ctype.h>
#include <errno.h>
#include <glob.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/error.h"
#include "kernels/cuda/cuda_sass.h"

extern char **environ;

static const char *const class_names[KILN_SASS_CLASS_COUNT] = {
    [KILN_SASS_HMMA] = "HMMA", [KILN_SASS_IMMA] = "IMMA",     [KILN_SASS_IDP] = "IDP", [KILN_SASS_LDSM] = "LDSM",
    [KILN_SASS_LDGSTS] = "LDGSTS", [KILN_SASS_LDG] = "LDG", [KILN_SASS_LD] = "LD",
};

const char *kiln_sass_class_name(int k) { return k >= 0 && k < KILN_SASS_CLASS_COUNT ? class_names[k] : NULL; }

int kiln_sass_class_of(const char *opcode, size_t len)
{
    for (int k = 0; k < KILN_SASS_CLASS_COUNT; k++)
        if (strlen(class_names[k]) == len && !memcmp(class_names[k], opcode, len)) return k;
    return -1;
}

/* ---------------------------------------------------------------- finding nvdisasm */

static int executable(const char *path) { return access(path, X_OK) == 0; }

static int copy_path(const char *path, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s", path);
    return n > 0 && (size_t)n < cap;
}

/* The first wheel's binary under venv_dir (site-packages/nvidia/cu13/bin/ for CUDA 13). */
static int from_venv(const char *venv_dir, char *buf, size_t cap)
{
    char pattern[1200];
    int n = snprintf(pattern, sizeof pattern, "%s/lib/python3*/site-packages/nvidia/cu*/bin/nvdisasm", venv_dir);
    if (n <= 0 || (size_t)n >= sizeof pattern) return 0;
    glob_t g;
    int found = 0;
    if (glob(pattern, 0, NULL, &g) == 0)
        for (size_t i = g.gl_pathc; i-- > 0 && !found;) /* sorted: the newest cuNN last */
            found = executable(g.gl_pathv[i]) && copy_path(g.gl_pathv[i], buf, cap);
    globfree(&g);
    return found;
}

static int from_path_env(char *buf, size_t cap)
{
    const char *path = getenv("PATH");
    while (path && *path) {
        size_t n = strcspn(path, ":");
        char cand[1200];
        int m = snprintf(cand, sizeof cand, "%.*s/nvdisasm", (int)n, path);
        if (n > 0 && m > 0 && (size_t)m < sizeof cand && executable(cand)) return copy_path(cand, buf, cap);
        path += n + (path[n] == ':');
    }
    return 0;
}

kiln_status kiln_cuda_find_nvdisasm(const char *venv_dir, char *buf, size_t cap)
{
    const char *env = getenv("KILN_NVDISASM");
    if (env && *env) {
        if (executable(env) && copy_path(env, buf, cap)) return KILN_OK;
        return kiln_fail(KILN_ERR_UNAVAILABLE, "KILN_NVDISASM=%s is not an executable file", env);
    }
    if (venv_dir && from_venv(venv_dir, buf, cap)) return KILN_OK;
    if (from_path_env(buf, cap)) return KILN_OK;
    if (executable("/usr/local/cuda/bin/nvdisasm") && copy_path("/usr/local/cuda/bin/nvdisasm", buf, cap))
        return KILN_OK;
    return kiln_fail(KILN_ERR_UNAVAILABLE,
                     "no nvdisasm: not in %s/lib/python3*/site-packages/nvidia/cu*/bin (make deps installs PyPI's "
                     "nvidia-cuda-nvdisasm there), nor on PATH, nor in /usr/local/cuda/bin; or set KILN_NVDISASM",
                     venv_dir ? venv_dir : "(no venv)");
}

/* ---------------------------------------------------------------- running it */

/* All of fd until EOF into a growing string; NULL when memory or the read
 * fails (never a silently cut text). */
static char *read_all(int fd)
{
    size_t len = 0, cap = 1 << 16;
    char *text = malloc(cap);
    while (text) {
        if (cap - len < 4096) {
            char *p = realloc(text, cap * 2);
            if (!p) break;
            text = p, cap *= 2;
        }
        ssize_t got = read(fd, text + len, cap - len - 1);
        if (got == 0) {
            text[len] = '\0';
            return text;
        }
        if (got > 0) len += (size_t)got;
        else if (errno != EINTR) break;
    }
    free(text);
    return NULL;
}

kiln_status kiln_cuda_disassemble(const char *nvdisasm, const void *cubin, size_t size, char **sass)
{
    if (!nvdisasm || !cubin || !size || !sass) return kiln_fail(KILN_ERR_INVALID_ARG, "cuda disassemble: null argument");
    *sass = NULL;
    const char *tmpdir = getenv("TMPDIR");
    char path[1024];
    snprintf(path, sizeof path, "%s/kiln-cubin-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0) return kiln_fail(KILN_ERR_IO, "cuda disassemble: cannot create %s: %s", path, strerror(errno));
    int bad = write(fd, cubin, size) != (ssize_t)size;
    bad |= close(fd) != 0;
    if (bad) {
        unlink(path);
        return kiln_fail(KILN_ERR_IO, "cuda disassemble: cannot write %s", path);
    }
    /* nvdisasm -c PATH, its stdout and stderr into one pipe; no shell. */
    int pipefd[2];
    if (pipe(pipefd) != 0) {
        unlink(path);
        return kiln_fail(KILN_ERR_IO, "cuda disassemble: pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 1);
    posix_spawn_file_actions_adddup2(&fa, pipefd[1], 2);
    posix_spawn_file_actions_addclose(&fa, pipefd[0]);
    posix_spawn_file_actions_addclose(&fa, pipefd[1]);
    char *argv[] = {(char *)nvdisasm, "-c", path, NULL};
    pid_t pid;
    int err = posix_spawn(&pid, nvdisasm, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(pipefd[1]);
    char *text = err ? NULL : read_all(pipefd[0]);
    close(pipefd[0]);
    int status = 0;
    if (!err)
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
    unlink(path);
    if (err) return kiln_fail(KILN_ERR_IO, "cuda disassemble: cannot run %s: %s", nvdisasm, strerror(err));
    if (!text) return kiln_fail(KILN_ERR_IO, "cuda disassemble: cannot read the output of %s", nvdisasm);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        kiln_fail(KILN_ERR_IO, "cuda disassemble: %s failed (status %d): %.400s", nvdisasm, status, text);
        free(text);
        return KILN_ERR_IO;
    }
    *sass = text;
    return KILN_OK;
}

/* ---------------------------------------------------------------- reading SASS
 *
 * nvdisasm -c prints each function as
 *   .section .text.NAME,"ax",@progbits
 *   ...
 *   /x0050x/   @!P0 LDG.E.128 R4, desc[UR6][R2.64] ;     (x = *)
 * so a function runs from its .text section line to the next section; an
 * instruction's opcode is the word after the address comment and the
 * optional predicate, and its class the opcode up to the first '.'. */

/* needle within [line, end) (memmem: the SASS is one long string). */
static const char *find_in(const char *line, const char *end, const char *needle)
{
    return memmem(line, (size_t)(end - line), needle, strlen(needle));
}

/* The function a ".section .text.NAME," line opens ("" for another section),
 * or NULL when the line opens none. */
static const char *section_name(const char *line, const char *end, size_t *len)
{
    const char *p = find_in(line, end, ".section");
    if (!p) return NULL;
    p += strlen(".section");
    if (p == end || !isspace((unsigned char)*p)) return NULL; /* .sectioninfo, .sectionflags */
    while (p < end && isspace((unsigned char)*p)) p++;
    if (end - p < 6 || memcmp(p, ".text.", 6)) return "";
    p += 6;
    const char *e = p;
    while (e < end && *e != ',' && !isspace((unsigned char)*e)) e++;
    *len = (size_t)(e - p);
    return p;
}

static int opcode_class(const char *line, const char *end)
{
    const char *p = find_in(line, end, "*/");
    if (!p || !find_in(line, end, "/*")) return -1;
    p += 2;
    while (p < end && isspace((unsigned char)*p)) p++;
    if (p < end && *p == '@') /* predicate */
        while (p < end && !isspace((unsigned char)*p)) p++;
    while (p < end && isspace((unsigned char)*p)) p++;
    const char *e = p;
    while (e < end && (isupper((unsigned char)*e) || isdigit((unsigned char)*e) || *e == '_')) e++;
    return kiln_sass_class_of(p, (size_t)(e - p));
}

kiln_status kiln_sass_classes(const char *sass, const char *fn, unsigned *classes)
{
    if (!sass || !fn || !classes) return kiln_fail(KILN_ERR_INVALID_ARG, "kiln_sass_classes: null argument");
    *classes = 0;
    int inside = 0, found = 0;
    size_t fn_len = strlen(fn);
    for (const char *line = sass; *line;) {
        const char *end = line + strcspn(line, "\n");
        size_t len = 0;
        const char *name = section_name(line, end, &len);
        if (name) {
            inside = len == fn_len && !memcmp(name, fn, len);
            found |= inside;
        } else if (inside) {
            int k = opcode_class(line, end);
            if (k >= 0) *classes |= 1u << k;
        }
        line = *end ? end + 1 : end;
    }
    if (!found) return kiln_fail(KILN_ERR_FORMAT, "cuda: the SASS has no code section for %s", fn);
    return KILN_OK;
}

/* kernels/cuda/emu/emu_compile.c — the emulator's stand-in for NVRTC: the
 * emitted CUDA source, after emu_abi.h and emu_device.h (embedded at build
 * time, like the templates), compiled by the host C++ compiler into a shared
 * object. The result is cached by kernels/cuda/cuda_compile.c like a cubin
 * (arch "host"); kiln_cuda_emu_key_salt puts the compiler's identity, the
 * flags and the headers' text into the key.
 *
 * The compiler is $KILN_CUDA_EMU_CXX when set, else g++; it is run directly
 * (no shell), with the source and output in a private temporary directory.
 * Under AddressSanitizer (a KILN_SANITIZE build) the modules are built with
 * -fsanitize=address as well, so their out-of-bounds accesses are reported. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gen/embedded.h"
#include "kiln/error.h"
#include "kernels/core/hash.h"
#include "kernels/cuda/emu/emu.h"

extern char **environ;

/* Image layout: magic, payload size, then the shared object. */
static const char image_magic[8] = {'K', 'I', 'L', 'N', 'E', 'M', 'U', '1'};

static const char *const flags[] = {
    "-x", "c++", "-std=c++17", "-O1", "-fPIC", "-shared", "-fvisibility=hidden", "-fno-exceptions", "-fno-rtti",
    "-ffp-contract=off", /* products and sums rounded as written, as NVRTC's default without fma contraction */
    "-w", "-DNDEBUG",
#if defined(__SANITIZE_ADDRESS__)
    "-fsanitize=address", "-fno-omit-frame-pointer",
#endif
};
#define N_FLAGS (sizeof flags / sizeof flags[0])

static const char *const prelude_files[] = {"kernels/cuda/emu/emu_abi.h", "kernels/cuda/emu/emu_device.h"};

static const char *compiler(void)
{
    const char *cxx = getenv("KILN_CUDA_EMU_CXX");
    return cxx && *cxx ? cxx : "g++";
}

/* Run argv with stdout and stderr into log_path; the exit status, or -1. */
static int run(char *const *argv, const char *log_path)
{
    posix_spawn_file_actions_t fa;
    if (posix_spawn_file_actions_init(&fa) != 0) return -1;
    posix_spawn_file_actions_addopen(&fa, 1, log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    pid_t pid;
    int rc = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *read_all(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    char *buf = NULL;
    size_t n = 0, cap = 0;
    for (;;) {
        if (n + 65536 + 1 > cap) {
            cap = cap ? 2 * cap : 1 << 20;
            char *p = realloc(buf, cap);
            if (!p) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = p;
        }
        size_t got = fread(buf + n, 1, 65536, f);
        n += got;
        if (got < 65536) break;
    }
    fclose(f);
    buf[n] = '\0';
    *size = n;
    return buf;
}

/* The compiler's first line of --version, once per process ("" if it does not run). */
static char version[256];
static pthread_once_t version_once = PTHREAD_ONCE_INIT;

static void probe_version(void)
{
    char dir[] = "/tmp/kiln-emu-XXXXXX", log[64];
    if (!mkdtemp(dir)) return;
    snprintf(log, sizeof log, "%s/version", dir);
    char *argv[] = {(char *)compiler(), "--version", NULL};
    if (run(argv, log) == 0) {
        size_t n = 0;
        char *text = read_all(log, &n);
        if (text) {
            size_t len = strcspn(text, "\n");
            if (len >= sizeof version) len = sizeof version - 1;
            memcpy(version, text, len);
            version[len] = '\0';
            free(text);
        }
    }
    unlink(log);
    rmdir(dir);
}

int kiln_cuda_emu_compiler_available(void)
{
    pthread_once(&version_once, probe_version);
    if (!version[0]) {
        kiln_fail(KILN_ERR_UNAVAILABLE,
                  "cuda-emu: the host C++ compiler '%s' does not run (install g++, or set KILN_CUDA_EMU_CXX)",
                  compiler());
        return 0;
    }
    return 1;
}

void kiln_cuda_emu_key_salt(uint64_t h[2])
{
    pthread_once(&version_once, probe_version);
    const int abi = KILN_EMU_ABI;
    for (int s = 0; s < 2; s++) {
        h[s] = kiln_fnv1a(h[s], &abi, sizeof abi);
        h[s] = kiln_fnv1a(h[s], compiler(), strlen(compiler()) + 1);
        h[s] = kiln_fnv1a(h[s], version, strlen(version) + 1);
        for (size_t i = 0; i < N_FLAGS; i++) h[s] = kiln_fnv1a(h[s], flags[i], strlen(flags[i]) + 1);
        for (size_t i = 0; i < sizeof prelude_files / sizeof prelude_files[0]; i++) {
            const kiln_embedded_file *f = kiln_embedded_find(prelude_files[i]);
            if (f) h[s] = kiln_fnv1a(h[s], f->text, f->len);
        }
    }
}

static int write_text(FILE *f, const char *s) { return fputs(s, f) >= 0 ? 0 : -1; }

kiln_status kiln_cuda_emu_compile(const char *source, const char *entry, void **image, size_t *size)
{
    *image = NULL;
    *size = 0;
    if (!kiln_cuda_emu_compiler_available()) return KILN_ERR_UNAVAILABLE;
    char dir[] = "/tmp/kiln-emu-XXXXXX";
    if (!mkdtemp(dir)) return kiln_fail(KILN_ERR_IO, "cuda-emu: cannot make a temporary directory: %s", strerror(errno));
    char src_path[64], so_path[64], log_path[64];
    snprintf(src_path, sizeof src_path, "%s/kernel.cu", dir);
    snprintf(so_path, sizeof so_path, "%s/kernel.so", dir);
    snprintf(log_path, sizeof log_path, "%s/log", dir);

    kiln_status st = KILN_OK;
    FILE *f = fopen(src_path, "w");
    int bad = !f;
    if (f) {
        bad |= write_text(f, "#define KILN_CUDA_EMULATE 1\n");
        for (size_t i = 0; i < sizeof prelude_files / sizeof prelude_files[0] && !bad; i++) {
            const kiln_embedded_file *e = kiln_embedded_find(prelude_files[i]);
            if (!e) {
                fclose(f);
                f = NULL;
                st = kiln_fail(KILN_ERR_INTERNAL, "cuda-emu: %s is not embedded in this build", prelude_files[i]);
                break;
            }
            bad |= write_text(f, e->text);
        }
        if (f) {
            fprintf(f, "\n#line 1 \"%s.cu\"\n", entry && entry[0] ? entry : "kiln_kernel");
            bad |= write_text(f, source);
            bad |= fclose(f) != 0;
        }
    }
    if (st == KILN_OK && bad) st = kiln_fail(KILN_ERR_IO, "cuda-emu: cannot write %s", src_path);

    if (st == KILN_OK) {
        char *argv[N_FLAGS + 5];
        size_t a = 0;
        argv[a++] = (char *)compiler();
        for (size_t i = 0; i < N_FLAGS; i++) argv[a++] = (char *)flags[i];
        argv[a++] = "-o";
        argv[a++] = so_path;
        argv[a++] = src_path;
        argv[a] = NULL;
        int rc = run(argv, log_path);
        if (rc != 0) {
            size_t n = 0;
            char *log = read_all(log_path, &n);
            st = kiln_fail(KILN_ERR_COMPILE, "cuda-emu: %s %s failed (%s %d) compiling %s:\n%.6000s", compiler(),
                           src_path, rc < 0 ? "could not run, status" : "exit", rc, entry ? entry : "",
                           log ? log : "(no log)");
            free(log);
        }
    }
    if (st == KILN_OK) {
        size_t n = 0;
        char *so = read_all(so_path, &n);
        unsigned char *img = so ? malloc(16 + n) : NULL;
        if (!img) {
            st = kiln_fail(KILN_ERR_IO, "cuda-emu: cannot read the compiled module %s", so_path);
        } else {
            const uint64_t len = n;
            memcpy(img, image_magic, 8);
            memcpy(img + 8, &len, 8);
            memcpy(img + 16, so, n);
            *image = img;
            *size = 16 + n;
        }
        free(so);
    }
    unlink(src_path);
    unlink(so_path);
    unlink(log_path);
    rmdir(dir);
    return st;
}

/* For emu_driver.c: the shared object inside an image, or NULL. */
const unsigned char *kiln_cuda_emu_image_payload(const void *image, size_t *size)
{
    const unsigned char *p = image;
    if (!p || memcmp(p, image_magic, 8) != 0) return NULL;
    uint64_t len;
    memcpy(&len, p + 8, 8);
    *size = (size_t)len;
    return p + 16;
}

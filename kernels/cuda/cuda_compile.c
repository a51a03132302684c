/* kernels/cuda/cuda_compile.c — NVRTC compile and the on-disk cubin cache. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kiln/error.h"
#include "kernels/cuda/cuda_api.h"
#include "kernels/core/fsutil.h"
#include "kernels/core/hash.h"
#include "kernels/cuda/cuda_compile.h"
#include "kernels/cuda/emu/emu.h"

/* Bump when the file layout or the compile options change meaning. */
#define CACHE_FORMAT 1
static const char cache_magic[8] = {'K', 'I', 'L', 'N', 'C', 'U', 'B', '1'};

typedef struct cache_header {
    char magic[8];
    uint64_t key_lo, key_hi;
    uint64_t payload_size;
    uint64_t payload_hash;
} cache_header;


void kiln_cuda_arch_name(int cc_major, int cc_minor, int arch_specific, char *buf, size_t cap)
{
    snprintf(buf, cap, "sm_%d%d%s", cc_major, cc_minor, arch_specific ? "a" : "");
}

/* The options every kiln kernel is compiled with, after --gpu-architecture.
 * -default-device: helpers need no __device__; c++17 for constexpr if in
 * templates; fast math stays off (expf/rsqrtf are chosen explicitly). */
static const char *const base_options[] = {"-default-device", "--std=c++17", "-DNDEBUG"};
#define N_BASE_OPTIONS (sizeof base_options / sizeof base_options[0])

/* The NVRTC log of a program (malloc'd, "" when empty), or NULL. */
static char *program_log(const kiln_nvrtc_api *rtc, nvrtcProgram prog)
{
    size_t n = 0;
    char *log = NULL;
    if (rtc->GetProgramLogSize(prog, &n) != 0 || !(log = malloc(n + 1))) return NULL;
    log[0] = '\0';
    if (n > 0 && rtc->GetProgramLog(prog, log) != 0) log[0] = '\0';
    log[n] = '\0';
    return log;
}

/* kiln_cuda_compile, plus extra options after kiln's own and, when info_log is
 * not NULL, NVRTC's log of a successful compile. */
static kiln_status compile_program(const char *source, const char *entry, const char *arch,
                                   const char *extra_option, void **cubin, size_t *cubin_size, char **ptx,
                                   char **info_log)
{
    const kiln_nvrtc_api *rtc = kiln_nvrtc();
    if (!rtc) return KILN_ERR_UNAVAILABLE;
    if (!source || !arch || !cubin || !cubin_size)
        return kiln_fail(KILN_ERR_INVALID_ARG, "cuda compile: null argument");
    *cubin = NULL;
    *cubin_size = 0;
    if (ptx) *ptx = NULL;

    char name[300], arch_opt[64];
    snprintf(name, sizeof name, "%s.cu", entry && entry[0] ? entry : "kiln_kernel");
    snprintf(arch_opt, sizeof arch_opt, "--gpu-architecture=%s", arch);
    const char *opts[N_BASE_OPTIONS + 2];
    int n_opts = 0;
    opts[n_opts++] = arch_opt;
    for (size_t i = 0; i < N_BASE_OPTIONS; i++) opts[n_opts++] = base_options[i];
    if (extra_option) opts[n_opts++] = extra_option;

    nvrtcProgram prog = NULL;
    nvrtcResult r = rtc->CreateProgram(&prog, source, name, 0, NULL, NULL);
    if (r != 0)
        return kiln_fail(KILN_ERR_COMPILE, "cuda: nvrtcCreateProgram(%s) failed: %s", name, rtc->GetErrorString(r));
    r = rtc->CompileProgram(prog, n_opts, opts);
    if (r != 0) {
        char *log = program_log(rtc, prog);
        /* The log's first errors are what matter; kiln_fail truncates the tail. */
        kiln_fail(KILN_ERR_COMPILE, "cuda: NVRTC could not compile %s for %s (%s):\n%s", name, arch,
                  rtc->GetErrorString(r), log && log[0] ? log : "(no log)");
        free(log);
        rtc->DestroyProgram(&prog);
        return KILN_ERR_COMPILE;
    }
    kiln_status st = KILN_OK;
    size_t n = 0;
    if (rtc->GetCUBINSize(prog, &n) != 0 || n == 0 || !(*cubin = malloc(n)) ||
        rtc->GetCUBIN(prog, *cubin) != 0) {
        st = kiln_fail(KILN_ERR_COMPILE, "cuda: NVRTC produced no cubin for %s (%s)", name, arch);
    } else {
        *cubin_size = n;
    }
    if (st == KILN_OK && ptx) {
        size_t pn = 0;
        if (rtc->GetPTXSize(prog, &pn) != 0 || !(*ptx = malloc(pn + 1)) || rtc->GetPTX(prog, *ptx) != 0) {
            st = kiln_fail(KILN_ERR_COMPILE, "cuda: NVRTC produced no PTX for %s (%s)", name, arch);
        } else {
            (*ptx)[pn] = '\0';
        }
    }
    if (st == KILN_OK && info_log && !(*info_log = program_log(rtc, prog)))
        st = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "cuda: no room for NVRTC's log of %s (%s)", name, arch);
    rtc->DestroyProgram(&prog);
    if (st != KILN_OK) {
        free(*cubin);
        *cubin = NULL;
        *cubin_size = 0;
        if (ptx) {
            free(*ptx);
            *ptx = NULL;
        }
    }
    return st;
}

kiln_status kiln_cuda_compile(const char *source, const char *entry, const char *arch,
                              void **cubin, size_t *cubin_size, char **ptx)
{
    return compile_program(source, entry, arch, NULL, cubin, cubin_size, ptx, NULL);
}

/* -v only makes ptxas report; the code is the same as kiln_cuda_compile's. */
kiln_status kiln_cuda_compile_verbose(const char *source, const char *entry, const char *arch,
                                      void **cubin, size_t *cubin_size, char **ptxas_log)
{
    if (!ptxas_log) return kiln_fail(KILN_ERR_INVALID_ARG, "cuda compile: null log argument");
    *ptxas_log = NULL;
    return compile_program(source, entry, arch, "--ptxas-options=-v", cubin, cubin_size, NULL, ptxas_log);
}

/* ---------------------------------------------------------------- disk cache */

kiln_status kiln_cuda_cache_key_of(const char *source, const char *arch, kiln_cuda_cache_key *key)
{
    /* Two FNV-1a streams with different offsets make a 128-bit key: a collision
     * would load the wrong kernel, so 64 bits over many specs is too thin. */
    uint64_t h[2] = {1469598103934665603ull, 0x9e3779b97f4a7c15ull};
    int meta[3] = {0, 0, CACHE_FORMAT};
    if (kiln_cuda_is_emu_arch(arch)) {
        kiln_cuda_emu_key_salt(h); /* the host compiler, its flags, the emulation headers */
    } else {
        const kiln_nvrtc_api *rtc = kiln_nvrtc();
        if (!rtc) return KILN_ERR_UNAVAILABLE;
        meta[0] = rtc->version_major;
        meta[1] = rtc->version_minor;
    }
    for (int s = 0; s < 2; s++) {
        h[s] = kiln_fnv1a(h[s], meta, sizeof meta);
        h[s] = kiln_fnv1a(h[s], arch, strlen(arch) + 1);
        for (size_t i = 0; i < N_BASE_OPTIONS; i++) h[s] = kiln_fnv1a(h[s], base_options[i], strlen(base_options[i]) + 1);
        h[s] = kiln_fnv1a(h[s], source, strlen(source));
    }
    key->lo = h[0];
    key->hi = h[1];
    return KILN_OK;
}

int kiln_cuda_cache_path(const char *cache_dir, const char *entry, const char *arch,
                         kiln_cuda_cache_key key, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/cuda/%s-%s-%016llx%016llx.%s", cache_dir, entry, arch,
                     (unsigned long long)key.hi, (unsigned long long)key.lo,
                     kiln_cuda_is_emu_arch(arch) ? "so" : "cubin");
    return n > 0 && (size_t)n < cap ? n : -1;
}

/* mkdir -p of dir (existing components are fine). */
static int make_dirs(const char *dir)
{
    char tmp[1200];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof tmp) return -1;
    memcpy(tmp, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (tmp[i] == '/' || tmp[i] == '\0') {
            char c = tmp[i];
            tmp[i] = '\0';
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST) return -1;
            tmp[i] = c;
        }
    }
    return 0;
}

/* Read and check an entry: magic, key, size, payload hash. NULL if any fails. */
static void *read_entry(const char *path, kiln_cuda_cache_key key, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    cache_header h;
    void *data = NULL;
    struct stat stt;
    if (fread(&h, sizeof h, 1, f) != 1 || memcmp(h.magic, cache_magic, sizeof cache_magic) ||
        h.key_lo != key.lo || h.key_hi != key.hi || fstat(fileno(f), &stt) != 0 ||
        (uint64_t)stt.st_size != sizeof h + h.payload_size || h.payload_size == 0)
        goto bad;
    data = malloc(h.payload_size);
    if (!data || fread(data, 1, h.payload_size, f) != h.payload_size ||
        kiln_fnv1a(KILN_FNV1A_SEED, data, h.payload_size) != h.payload_hash)
        goto bad;
    fclose(f);
    *size = h.payload_size;
    return data;
bad:
    free(data);
    fclose(f);
    return NULL;
}

/* Write an entry atomically (kiln_write_file_atomic: a private temporary file
 * renamed over the final name), so a reader never sees half a file and racing
 * writers are fine. A failed write only costs a recompile next time. */
static void write_entry(const char *path, kiln_cuda_cache_key key, const void *data, size_t size)
{
    cache_header h;
    memcpy(h.magic, cache_magic, sizeof h.magic);
    h.key_lo = key.lo;
    h.key_hi = key.hi;
    h.payload_size = size;
    h.payload_hash = kiln_fnv1a(KILN_FNV1A_SEED, data, size);
    unsigned char *buf = malloc(sizeof h + size);
    if (!buf) return;
    memcpy(buf, &h, sizeof h);
    memcpy(buf + sizeof h, data, size);
    (void)kiln_write_file_atomic(path, buf, sizeof h + size);
    free(buf);
}

kiln_status kiln_cuda_cubin(const char *cache_dir, const char *source, const char *entry,
                            const char *arch, void **cubin, size_t *cubin_size, int *from_cache)
{
    int dummy;
    if (!from_cache) from_cache = &dummy;
    *from_cache = 0;
    char path[1200] = "";
    kiln_cuda_cache_key key = {0, 0};
    int use_disk = cache_dir && cache_dir[0];
    if (use_disk) {
        kiln_status st = kiln_cuda_cache_key_of(source, arch, &key);
        if (st != KILN_OK) return st;
        use_disk = kiln_cuda_cache_path(cache_dir, entry, arch, key, path, sizeof path) > 0;
    }
    if (use_disk) {
        void *data = read_entry(path, key, cubin_size);
        if (data) {
            *cubin = data;
            *from_cache = 1;
            return KILN_OK;
        }
        unlink(path); /* corrupt or stale: rebuild below */
    }
    kiln_status st = kiln_cuda_is_emu_arch(arch) ? kiln_cuda_emu_compile(source, entry, cubin, cubin_size)
                                                 : kiln_cuda_compile(source, entry, arch, cubin, cubin_size, NULL);
    if (st != KILN_OK || !use_disk) return st;
    char dir[1100];
    snprintf(dir, sizeof dir, "%s/cuda", cache_dir);
    if (make_dirs(dir) == 0) write_entry(path, key, *cubin, *cubin_size);
    return KILN_OK;
}

void kiln_cuda_cache_discard(const char *cache_dir, const char *source, const char *entry,
                             const char *arch)
{
    kiln_cuda_cache_key key;
    char path[1200];
    if (!cache_dir || !cache_dir[0] || kiln_cuda_cache_key_of(source, arch, &key) != KILN_OK) return;
    if (kiln_cuda_cache_path(cache_dir, entry, arch, key, path, sizeof path) > 0) unlink(path);
}

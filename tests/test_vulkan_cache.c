/* tests/test_vulkan_cache.c — the Vulkan backend's disk caches: SPIR-V entries
 * are written once and reused by a later context (not rewritten), a corrupt
 * entry is detected, rebuilt, and the result is still right; the pipeline
 * cache is saved under <cache_dir>/vulkan/ when a context ends. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test_vulkan_util.h"

static void setup(void) { setenv("KILN_VULKAN_VALIDATION", "1", 1); }
TestSuite(vulkan_cache, .init = setup, .timeout = 180);

/* Files in dir ending in suffix; the first one's path in first (if any). */
static int count_files(const char *dir, const char *suffix, char *first, size_t cap)
{
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    size_t sl = strlen(suffix);
    for (struct dirent *e; (e = readdir(d));) {
        size_t l = strlen(e->d_name);
        if (l > sl && !strcmp(e->d_name + l - sl, suffix)) {
            if (n++ == 0 && first) snprintf(first, cap, "%s/%s", dir, e->d_name);
        }
    }
    closedir(d);
    return n;
}

static void run_norm_once(const char *cache_dir)
{
    kiln_context *ctx = vk_open(cache_dir);
    vk_norm_case c;
    vk_norm_make(ctx, &c, 3, 77, 7);
    cr_assert_eq(kiln_norm(ctx, &c.p), KILN_OK, "%s", kiln_last_error());
    cr_assert_eq(kiln_synchronize(ctx), KILN_OK, "%s", kiln_last_error());
    cr_expect(vk_norm_matches(&c), "norm result wrong with cache dir %s", cache_dir);
    vk_norm_free(&c);
    kiln_context_destroy(ctx);
}

Test(vulkan_cache, spirv_written_once_then_reused)
{
    vk_skip_unless_available();
    char dir[] = "/tmp/kiln-vkcache-XXXXXX", sub[64], spv[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/vulkan", dir);
    run_norm_once(dir);
    cr_assert_eq(count_files(sub, ".spv", spv, sizeof spv), 1, "one kernel ran, one SPIR-V entry expected");
    cr_expect_eq(count_files(sub, ".bin", NULL, 0), 1, "the pipeline cache is saved when the context ends");
    struct stat before, after;
    cr_assert_eq(stat(spv, &before), 0);
    sleep(1); /* mtime granularity */
    run_norm_once(dir);
    cr_assert_eq(stat(spv, &after), 0);
    cr_expect_eq(count_files(sub, ".spv", NULL, 0), 1);
    cr_expect_eq(before.st_mtime, after.st_mtime, "a valid entry was rewritten instead of reused");
}

Test(vulkan_cache, corrupt_entries_are_rebuilt)
{
    vk_skip_unless_available();
    char dir[] = "/tmp/kiln-vkcache-XXXXXX", sub[64], spv[512], pipe[512];
    cr_assert_not_null(mkdtemp(dir));
    snprintf(sub, sizeof sub, "%s/vulkan", dir);
    run_norm_once(dir);
    cr_assert_eq(count_files(sub, ".spv", spv, sizeof spv), 1);
    cr_assert_eq(count_files(sub, ".bin", pipe, sizeof pipe), 1);
    struct stat good;
    cr_assert_eq(stat(spv, &good), 0);

    /* three kinds of damage, each followed by a run that must still be right */
    for (int kind = 0; kind < 3; kind++) {
        FILE *f = fopen(spv, kind == 0 ? "wb" : "r+b");
        cr_assert_not_null(f);
        if (kind == 0) fputs("garbage", f);          /* truncated, no header */
        else if (kind == 1) {                          /* flipped payload byte: checksum */
            fseek(f, (long)good.st_size - 5, SEEK_SET);
            fputc(0x5a, f);
        } else {                                       /* wrong magic */
            fseek(f, 0, SEEK_SET);
            fputc('X', f);
        }
        fclose(f);
        /* and a corrupt pipeline cache, which must be ignored, not trusted */
        f = fopen(pipe, "wb");
        cr_assert_not_null(f);
        fputs("not a pipeline cache", f);
        fclose(f);
        run_norm_once(dir);
        struct stat now;
        cr_assert_eq(stat(spv, &now), 0);
        cr_expect_eq(now.st_size, good.st_size, "damage %d: entry not rebuilt (size %lld, expected %lld)", kind,
                     (long long)now.st_size, (long long)good.st_size);
    }
}

Test(vulkan_cache, unwritable_cache_dir_is_not_an_error)
{
    vk_skip_unless_available();
    if (geteuid() == 0) {
        /* root writes anywhere: use a path under a regular file instead */
        char file[] = "/tmp/kiln-vkfile-XXXXXX", dir[128];
        int fd = mkstemp(file);
        cr_assert_geq(fd, 0);
        close(fd);
        snprintf(dir, sizeof dir, "%s/sub", file);
        run_norm_once(dir);
        unlink(file);
    } else {
        run_norm_once("/proc/kiln-no-such-dir");
    }
}

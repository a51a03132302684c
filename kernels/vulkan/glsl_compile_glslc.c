/* kernels/vulkan/glsl_compile_glslc.c — GLSL -> SPIR-V through the glslc tool
 * (fallback when glslang's static libraries are not there at build time).
 * KILN_GLSLC names the tool; default "glslc" on PATH. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kiln/error.h"
#include "kernels/core/fsutil.h"
#include "kernels/vulkan/glsl_compile.h"

const char *kiln_glsl_compiler_id(void) { return "glslc vulkan1.2 spv1.5"; }

kiln_status kiln_glsl_compile(const char *source, const char *name, uint32_t **spirv, size_t *words)
{
    *spirv = NULL;
    *words = 0;
    const char *tool = getenv("KILN_GLSLC");
    if (!tool || !*tool) tool = "glslc";
    char dir[] = "/tmp/kiln-glslc-XXXXXX";
    if (!mkdtemp(dir)) return kiln_fail(KILN_ERR_IO, "vulkan: cannot create a temporary directory for glslc");
    char src_path[64], spv_path[64], log_path[64], cmd[1024];
    snprintf(src_path, sizeof src_path, "%s/k.comp", dir);
    snprintf(spv_path, sizeof spv_path, "%s/k.spv", dir);
    snprintf(log_path, sizeof log_path, "%s/log.txt", dir);
    kiln_status s = kiln_write_file_atomic(src_path, source, strlen(source));
    if (s == KILN_OK) {
        snprintf(cmd, sizeof cmd, "'%s' --target-env=vulkan1.2 --target-spv=spv1.5 -fshader-stage=compute -o %s %s >%s 2>&1",
                 tool, spv_path, src_path, log_path);
        int rc = system(cmd);
        void *data = NULL;
        size_t len = 0;
        if (rc != 0) {
            char *log = NULL;
            size_t loglen = 0;
            kiln_read_file(log_path, (void **)&log, &loglen);
            s = kiln_fail(KILN_ERR_COMPILE, "vulkan: glslc (%s) failed on %s (exit %d):\n%s", tool, name,
                          WIFEXITED(rc) ? WEXITSTATUS(rc) : -1, log ? log : "(no log)");
            free(log);
        } else if ((s = kiln_read_file(spv_path, &data, &len)) == KILN_OK) {
            *spirv = data;
            *words = len / 4;
        }
    }
    unlink(src_path);
    unlink(spv_path);
    unlink(log_path);
    rmdir(dir);
    return s;
}

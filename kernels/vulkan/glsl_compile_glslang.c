/* kernels/vulkan/glsl_compile_glslang.c — GLSL -> SPIR-V with glslang's C API (in process). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <glslang/Include/glslang_c_interface.h>
#include <glslang/Public/resource_limits_c.h>
#include <glslang/build_info.h>

#include "kiln/error.h"
#include "kernels/vulkan/glsl_compile.h"

/* glslang keeps process-wide tables, set up once by initialize_process (under
 * this lock). After that, shaders and programs compiled on different threads
 * are independent: glslang's pool allocator is per thread (thread_local since
 * glslang 11) and its built-in symbol tables are set up under its own lock —
 * what glslangValidator's multi-threaded mode relies on. The autotuner's
 * precompile (vk_pipeline.c) compiles candidates on several threads. */
static pthread_mutex_t g_glslang_lock = PTHREAD_MUTEX_INITIALIZER;
static int g_glslang_ready;

#define STR2(x) #x
#define STR(x) STR2(x)

const char *kiln_glsl_compiler_id(void)
{
    return "glslang " STR(GLSLANG_VERSION_MAJOR) "." STR(GLSLANG_VERSION_MINOR) "." STR(GLSLANG_VERSION_PATCH)
           " vulkan1.2 spv1.5";
}

static kiln_status fail_log(const char *name, const char *stage, const char *log, const char *source)
{
    (void)source;
    return kiln_fail(KILN_ERR_COMPILE, "vulkan: GLSL %s of %s failed:\n%s", stage, name,
                     log && *log ? log : "(no log)");
}

kiln_status kiln_glsl_compile(const char *source, const char *name, uint32_t **spirv, size_t *words)
{
    *spirv = NULL;
    *words = 0;
    pthread_mutex_lock(&g_glslang_lock);
    if (!g_glslang_ready) g_glslang_ready = glslang_initialize_process();
    int ready = g_glslang_ready;
    pthread_mutex_unlock(&g_glslang_lock);
    if (!ready) return kiln_fail(KILN_ERR_COMPILE, "vulkan: glslang failed to initialize");
    glslang_input_t in = {
        .language = GLSLANG_SOURCE_GLSL,
        .stage = GLSLANG_STAGE_COMPUTE,
        .client = GLSLANG_CLIENT_VULKAN,
        .client_version = GLSLANG_TARGET_VULKAN_1_2,
        .target_language = GLSLANG_TARGET_SPV,
        .target_language_version = GLSLANG_TARGET_SPV_1_5,
        .code = source,
        .default_version = 450,
        .default_profile = GLSLANG_NO_PROFILE,
        .force_default_version_and_profile = 0,
        .forward_compatible = 0,
        .messages = GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT,
        .resource = glslang_default_resource(),
    };
    kiln_status s = KILN_OK;
    glslang_shader_t *sh = glslang_shader_create(&in);
    glslang_program_t *prog = NULL;
    if (!sh) {
        s = kiln_fail(KILN_ERR_COMPILE, "vulkan: glslang could not create a shader for %s", name);
        goto done;
    }
    if (!glslang_shader_preprocess(sh, &in)) {
        s = fail_log(name, "preprocessing", glslang_shader_get_info_log(sh), source);
        goto done;
    }
    if (!glslang_shader_parse(sh, &in)) {
        s = fail_log(name, "compile", glslang_shader_get_info_log(sh), source);
        goto done;
    }
    prog = glslang_program_create();
    glslang_program_add_shader(prog, sh);
    if (!glslang_program_link(prog, GLSLANG_MSG_SPV_RULES_BIT | GLSLANG_MSG_VULKAN_RULES_BIT)) {
        s = fail_log(name, "link", glslang_program_get_info_log(prog), source);
        goto done;
    }
    glslang_program_SPIRV_generate(prog, GLSLANG_STAGE_COMPUTE);
    size_t n = glslang_program_SPIRV_get_size(prog);
    const char *msgs = glslang_program_SPIRV_get_messages(prog);
    if (n == 0) {
        s = fail_log(name, "SPIR-V generation", msgs, source);
        goto done;
    }
    *spirv = malloc(n * sizeof(uint32_t));
    if (!*spirv) {
        s = kiln_fail(KILN_ERR_OUT_OF_MEMORY, "vulkan: out of memory for SPIR-V of %s", name);
        goto done;
    }
    glslang_program_SPIRV_get(prog, *spirv);
    *words = n;
done:
    if (prog) glslang_program_delete(prog);
    if (sh) glslang_shader_delete(sh);
    return s;
}

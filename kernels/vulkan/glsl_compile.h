/* kernels/vulkan/glsl_compile.h — GLSL compute source -> SPIR-V.
 *
 * One small interface with two implementations, chosen at build time by
 * kernels/vulkan/vulkan.cmake (docs/VULKAN.md says why):
 *   glsl_compile_glslang.c  glslang's C API, linked statically: in process, no
 *                           tool to carry to the machine that runs kiln (default
 *                           when glslang-dev's static libraries are found);
 *   glsl_compile_glslc.c    the glslc tool as a subprocess (fallback). */
#ifndef KILN_VK_GLSL_COMPILE_H
#define KILN_VK_GLSL_COMPILE_H
#include <stddef.h>
#include <stdint.h>

#include "kiln/kiln.h"

/* Compiles a GLSL 450 compute shader (entry main) for Vulkan 1.2 / SPIR-V 1.5.
 * On success *spirv (malloc'd, free()) holds *words 32-bit words. On a compile
 * error: KILN_ERR_COMPILE, with `name` and the compiler's log in kiln_last_error(). */
kiln_status kiln_glsl_compile(const char *source, const char *name, uint32_t **spirv, size_t *words);

/* Names the compiler and its version ("glslang 12.0.0"); part of the SPIR-V cache key,
 * so a compiler upgrade never serves stale binaries. */
const char *kiln_glsl_compiler_id(void);

#endif

# Vulkan backend (kernels/vulkan/). Built when vulkan/vulkan.h is found; the
# loader itself is dlopen'ed at run time, never linked. Without the headers the
# stub (kernels/vulkan/stub/) defines kiln_vulkan_backend as "unavailable".
#
# GLSL -> SPIR-V (kernels/vulkan/glsl_compile.h): glslang's C API linked
# statically when glslang-dev's static libraries are found (self-contained
# libkiln: nothing to install where it runs), else the glslc tool at run time.
# -DKILN_VULKAN_COMPILER=glslc forces the tool.
option(KILN_WITH_VULKAN "Build the Vulkan backend (when vulkan/vulkan.h is found)" ON)
if(KILN_WITH_VULKAN)
  find_path(KILN_VULKAN_INCLUDE_DIR vulkan/vulkan.h)
endif()
set(KILN_VULKAN_COMPILER "auto" CACHE STRING "GLSL compiler of the Vulkan backend: auto, glslang or glslc")

if(KILN_WITH_VULKAN AND KILN_VULKAN_INCLUDE_DIR)
  file(GLOB KILN_VULKAN_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/vulkan/*.c)
  list(FILTER KILN_VULKAN_SOURCES EXCLUDE REGEX "glsl_compile_(glslang|glslc)\\.c$")

  find_path(KILN_GLSLANG_INCLUDE_DIR glslang/Include/glslang_c_interface.h)
  set(kiln_glslang_libs glslang MachineIndependent GenericCodeGen OSDependent OGLCompiler SPIRV
      SPIRV-Tools-opt SPIRV-Tools glslang-default-resource-limits)
  set(kiln_glslang_found ${KILN_GLSLANG_INCLUDE_DIR})
  set(kiln_glslang_paths "")
  foreach(lib ${kiln_glslang_libs})
    find_library(KILN_GLSLANG_LIB_${lib} NAMES lib${lib}.a)
    if(NOT KILN_GLSLANG_LIB_${lib})
      set(kiln_glslang_found "")
    endif()
    list(APPEND kiln_glslang_paths ${KILN_GLSLANG_LIB_${lib}})
  endforeach()

  if(KILN_VULKAN_COMPILER STREQUAL "glslc" OR (KILN_VULKAN_COMPILER STREQUAL "auto" AND NOT kiln_glslang_found))
    message(STATUS "kiln: Vulkan backend with glslc (run time) as its GLSL compiler")
    list(APPEND KILN_VULKAN_SOURCES ${CMAKE_SOURCE_DIR}/kernels/vulkan/glsl_compile_glslc.c)
  else()
    if(NOT kiln_glslang_found)
      message(FATAL_ERROR "KILN_VULKAN_COMPILER=glslang but glslang-dev's static libraries were not found")
    endif()
    message(STATUS "kiln: Vulkan backend with glslang (static, in process) as its GLSL compiler")
    list(APPEND KILN_VULKAN_SOURCES ${CMAKE_SOURCE_DIR}/kernels/vulkan/glsl_compile_glslang.c)
    list(APPEND KILN_EXTRA_LIBS -Wl,--start-group ${kiln_glslang_paths} -Wl,--end-group stdc++ pthread)
  endif()
  target_sources(kiln_obj PRIVATE ${KILN_VULKAN_SOURCES})
  target_include_directories(kiln_obj PRIVATE ${KILN_VULKAN_INCLUDE_DIR})
  # validation layers on by default in Debug builds (KILN_VULKAN_VALIDATION=0/1 overrides)
  target_compile_definitions(kiln_obj PRIVATE $<$<CONFIG:Debug>:KILN_VK_VALIDATION_DEFAULT=1>)
else()
  message(STATUS "kiln: no Vulkan backend (KILN_WITH_VULKAN=${KILN_WITH_VULKAN}, vulkan/vulkan.h: ${KILN_VULKAN_INCLUDE_DIR}); it reports itself unavailable")
  target_sources(kiln_obj PRIVATE ${CMAKE_SOURCE_DIR}/kernels/vulkan/stub/vk_unavailable.c)
endif()

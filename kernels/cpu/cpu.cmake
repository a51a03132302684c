# CPU backend: host code (kernels/cpu/*.c) plus the kernels kiln-gen emits at
# build time from kernels/cpu/templates/ (never committed):
#   gen/manifest_cpu.c --kiln-gen --cpu-bundle--> build/gen/cpu/kiln_cpu_<isa>.c
#   + kiln_cpu_registry.c, compiled into kiln_obj with per-ISA flags.
file(GLOB KILN_CPU_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cpu/*.c)

set(KILN_CPU_BUNDLE_DIR ${CMAKE_BINARY_DIR}/gen/cpu)
set(KILN_CPU_BUNDLE
  ${KILN_CPU_BUNDLE_DIR}/kiln_cpu_generic.c
  ${KILN_CPU_BUNDLE_DIR}/kiln_cpu_avx2.c
  ${KILN_CPU_BUNDLE_DIR}/kiln_cpu_avx512.c
  ${KILN_CPU_BUNDLE_DIR}/kiln_cpu_registry.c)
file(GLOB KILN_CPU_TEMPLATE_DEPS CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/kernels/cpu/templates/*
  ${CMAKE_SOURCE_DIR}/gen/math/*)
add_custom_command(OUTPUT ${KILN_CPU_BUNDLE}
  COMMAND ${CMAKE_COMMAND} -E make_directory ${KILN_CPU_BUNDLE_DIR}
  COMMAND $<TARGET_FILE:kiln-gen> --cpu-bundle ${KILN_CPU_BUNDLE_DIR}
  DEPENDS kiln-gen ${KILN_CPU_TEMPLATE_DEPS} ${CMAKE_SOURCE_DIR}/gen/manifest_cpu.c ${CMAKE_SOURCE_DIR}/gen/bundle_cpu.c
  COMMENT "Generating the cpu kernel bundle (kiln-gen --cpu-bundle)"
  VERBATIM)

target_sources(kiln_obj PRIVATE ${KILN_CPU_SOURCES} ${KILN_CPU_BUNDLE})
# Each ISA's bundle is compiled for that ISA; the host picks one per context
# after checking cpuid (kernels/cpu/cpu_features.c), so nothing of avx2/avx512
# runs on a CPU without it. The templates also switch the ISA on with
# #pragma GCC target, so an emitted source compiles on its own with any flags.
# AVX-512 VNNI is not required (nor used yet): the avx512 bundle runs on any
# AVX-512 F/BW/VL machine.
if(CMAKE_SYSTEM_PROCESSOR MATCHES "x86_64|AMD64|i.86")
  set_source_files_properties(${KILN_CPU_BUNDLE_DIR}/kiln_cpu_avx2.c PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mf16c")
  set_source_files_properties(${KILN_CPU_BUNDLE_DIR}/kiln_cpu_avx512.c PROPERTIES
    COMPILE_OPTIONS "-mavx2;-mfma;-mf16c;-mavx512f;-mavx512bw;-mavx512vl")
endif()

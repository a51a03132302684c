# CPU backend: host code (kernels/cpu/*.c) plus the kernels kiln-gen emits at
# build time from kernels/cpu/templates/ (never committed).
file(GLOB KILN_CPU_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cpu/*.c)
target_sources(kiln_obj PRIVATE ${KILN_CPU_SOURCES})

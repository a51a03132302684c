# CUDA backend: libcuda and NVRTC are opened with dlopen at run time, so this
# builds (and the library runs, reporting CUDA unavailable) without the toolkit.
# The kernel templates (kernels/cuda/templates/) are embedded by gen/gen.cmake.
# kernels/cuda/emu/: the CUDA emulator (device cuda-emu:0, docs/CUDA.md); its
# kernel-side headers are embedded by gen/gen.cmake with the templates.
file(GLOB KILN_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cuda/*.c
  ${CMAKE_SOURCE_DIR}/kernels/cuda/emu/*.c)
target_sources(kiln_obj PRIVATE ${KILN_CUDA_SOURCES})

# kiln-gen --sass (tools/kiln_gen_sass.c) compiles cuda specs through NVRTC
# and reads them back (ptxas's report, nvdisasm). kiln-gen runs at build time,
# before libkiln exists, so it links these few files itself; they need only
# dlopen and kiln's error reporting (in kiln_gen_core). cuda_compile.c keys
# and builds the emulator's host modules too (emu_compile.c).
target_sources(kiln-gen PRIVATE
  ${CMAKE_SOURCE_DIR}/kernels/cuda/cuda_api.c
  ${CMAKE_SOURCE_DIR}/kernels/cuda/cuda_compile.c
  ${CMAKE_SOURCE_DIR}/kernels/cuda/emu/emu_compile.c
  ${CMAKE_SOURCE_DIR}/kernels/cuda/cuda_sass.c
  ${CMAKE_SOURCE_DIR}/kernels/cuda/cuda_static.c
  ${CMAKE_SOURCE_DIR}/kernels/core/fsutil.c)
target_link_libraries(kiln-gen PRIVATE ${CMAKE_DL_LIBS})
# where make deps puts the nvdisasm wheel (.ci/venv.sh BUILD)
target_compile_definitions(kiln-gen PRIVATE KILN_VENV_DIR="${CMAKE_BINARY_DIR}/venv")

# kiln-cuda-bench: event-timed benchmarks of the CUDA kernels (bench/gpu-bench.sh).
add_executable(kiln-cuda-bench ${CMAKE_SOURCE_DIR}/kernels/cuda/tools/cuda_bench.c)
target_include_directories(kiln-cuda-bench PRIVATE ${KILN_INCLUDE_DIRS})
target_link_libraries(kiln-cuda-bench PRIVATE kiln_static)


# CUDA backend: libcuda and NVRTC are opened with dlopen at run time, so this
# builds (and the library runs, reporting CUDA unavailable) without the toolkit.
file(GLOB KILN_CUDA_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/cuda/*.c)
target_sources(kiln_obj PRIVATE ${KILN_CUDA_SOURCES})

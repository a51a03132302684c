# Vulkan backend: compiled when the Vulkan headers are present.
file(GLOB KILN_VULKAN_SOURCES CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/kernels/vulkan/*.c)
target_sources(kiln_obj PRIVATE ${KILN_VULKAN_SOURCES})

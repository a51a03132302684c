/* kernels/vulkan/vk_loader.h — the Vulkan API through dlopen("libvulkan.so.1").
 *
 * kiln never links the Vulkan loader: a machine without it (the H100 box ships
 * the NVIDIA driver but no loader) must still load libkiln, and report the
 * backend as unavailable with a reason. Every entry point kiln uses is listed
 * once below (X-macros) and resolved through vkGetInstanceProcAddr /
 * vkGetDeviceProcAddr into a table. */
#ifndef KILN_VK_LOADER_H
#define KILN_VK_LOADER_H

#define VK_NO_PROTOTYPES
#include <vulkan/vulkan.h>

#include "kiln/kiln.h"

/* Resolved without an instance. */
#define KILN_VK_GLOBAL_FUNCS(X)             \
    X(vkCreateInstance)                     \
    X(vkEnumerateInstanceLayerProperties)   \
    X(vkEnumerateInstanceExtensionProperties)

/* Resolved per instance. */
#define KILN_VK_INSTANCE_FUNCS(X)                 \
    X(vkDestroyInstance)                          \
    X(vkEnumeratePhysicalDevices)                 \
    X(vkGetPhysicalDeviceProperties)              \
    X(vkGetPhysicalDeviceProperties2)             \
    X(vkGetPhysicalDeviceFeatures2)               \
    X(vkGetPhysicalDeviceMemoryProperties)        \
    X(vkGetPhysicalDeviceQueueFamilyProperties)   \
    X(vkEnumerateDeviceExtensionProperties)       \
    X(vkCreateDevice)                             \
    X(vkGetDeviceProcAddr)

/* Instance functions of optional extensions (may stay NULL). */
#define KILN_VK_INSTANCE_OPT_FUNCS(X)   \
    X(vkCreateDebugUtilsMessengerEXT)   \
    X(vkDestroyDebugUtilsMessengerEXT)  \
    X(vkGetPhysicalDeviceCooperativeMatrixPropertiesNV)

/* Resolved per device. */
#define KILN_VK_DEVICE_FUNCS(X)          \
    X(vkDestroyDevice)                   \
    X(vkDeviceWaitIdle)                  \
    X(vkGetDeviceQueue)                  \
    X(vkCreateCommandPool)               \
    X(vkDestroyCommandPool)              \
    X(vkAllocateCommandBuffers)          \
    X(vkFreeCommandBuffers)              \
    X(vkBeginCommandBuffer)              \
    X(vkEndCommandBuffer)                \
    X(vkResetCommandBuffer)              \
    X(vkQueueSubmit)                     \
    X(vkCreateFence)                     \
    X(vkDestroyFence)                    \
    X(vkWaitForFences)                   \
    X(vkResetFences)                     \
    X(vkCreateBuffer)                    \
    X(vkDestroyBuffer)                   \
    X(vkGetBufferMemoryRequirements)     \
    X(vkAllocateMemory)                  \
    X(vkFreeMemory)                      \
    X(vkBindBufferMemory)                \
    X(vkMapMemory)                       \
    X(vkUnmapMemory)                     \
    X(vkCmdCopyBuffer)                   \
    X(vkCmdPipelineBarrier)              \
    X(vkCreateShaderModule)              \
    X(vkDestroyShaderModule)             \
    X(vkCreateDescriptorSetLayout)       \
    X(vkDestroyDescriptorSetLayout)      \
    X(vkCreatePipelineLayout)            \
    X(vkDestroyPipelineLayout)           \
    X(vkCreateComputePipelines)          \
    X(vkDestroyPipeline)                 \
    X(vkCreatePipelineCache)             \
    X(vkDestroyPipelineCache)            \
    X(vkGetPipelineCacheData)            \
    X(vkCmdBindPipeline)                 \
    X(vkCmdPushConstants)                \
    X(vkCmdPushDescriptorSetKHR)         \
    X(vkCmdDispatch)                     \
    X(vkCreateQueryPool)                 \
    X(vkDestroyQueryPool)                \
    X(vkCmdResetQueryPool)               \
    X(vkCmdWriteTimestamp)               \
    X(vkGetQueryPoolResults)

#define KILN_VK_DECLARE_PFN(name) PFN_##name name;

/* The process-wide loader: dlopen handle and the global entry points. */
typedef struct kiln_vk_loader {
    void *lib;
    PFN_vkGetInstanceProcAddr vkGetInstanceProcAddr;
    KILN_VK_GLOBAL_FUNCS(KILN_VK_DECLARE_PFN)
} kiln_vk_loader;

typedef struct kiln_vk_instance_funcs {
    KILN_VK_INSTANCE_FUNCS(KILN_VK_DECLARE_PFN)
    KILN_VK_INSTANCE_OPT_FUNCS(KILN_VK_DECLARE_PFN)
} kiln_vk_instance_funcs;

typedef struct kiln_vk_device_funcs {
    KILN_VK_DEVICE_FUNCS(KILN_VK_DECLARE_PFN)
} kiln_vk_device_funcs;

/* Loads libvulkan once per process (thread-safe); NULL with the reason in
 * kiln_last_error() when the loader or its entry points are missing. */
const kiln_vk_loader *kiln_vk_loader_get(void);
kiln_status kiln_vk_load_instance_funcs(VkInstance inst, kiln_vk_instance_funcs *f);
kiln_status kiln_vk_load_device_funcs(const kiln_vk_instance_funcs *fi, VkDevice dev,
                                      kiln_vk_device_funcs *f);
/* "VK_ERROR_OUT_OF_DEVICE_MEMORY" etc. */
const char *kiln_vk_result_name(VkResult r);

#endif

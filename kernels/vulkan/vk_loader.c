/* kernels/vulkan/vk_loader.c — dlopen of the Vulkan loader and the entry-point tables. */
#include "kernels/vulkan/vk_loader.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "kiln/error.h"

/* The loader is process-wide by nature (one libvulkan per process); it is
 * resolved once and never unloaded, as drivers do not survive dlclose well. */
static kiln_vk_loader g_loader;
static int g_loader_ok;
static char g_loader_error[512];
static pthread_once_t g_loader_once = PTHREAD_ONCE_INIT;

static void load_once(void)
{
    const char *names[] = {"libvulkan.so.1", "libvulkan.so"};
    for (size_t i = 0; i < sizeof names / sizeof names[0] && !g_loader.lib; i++)
        g_loader.lib = dlopen(names[i], RTLD_NOW | RTLD_LOCAL);
    if (!g_loader.lib) {
        const char *e = dlerror();
        snprintf(g_loader_error, sizeof g_loader_error,
                 "vulkan: cannot load the Vulkan loader libvulkan.so.1 (%s)", e ? e : "not found");
        return;
    }
    void *sym = dlsym(g_loader.lib, "vkGetInstanceProcAddr");
    memcpy(&g_loader.vkGetInstanceProcAddr, &sym, sizeof sym);
    if (!g_loader.vkGetInstanceProcAddr) {
        snprintf(g_loader_error, sizeof g_loader_error,
                 "vulkan: libvulkan.so.1 has no vkGetInstanceProcAddr");
        return;
    }
#define LOAD_GLOBAL(name)                                                               \
    g_loader.name = (PFN_##name)g_loader.vkGetInstanceProcAddr(VK_NULL_HANDLE, #name); \
    if (!g_loader.name) {                                                               \
        snprintf(g_loader_error, sizeof g_loader_error,                                 \
                 "vulkan: the loader does not provide %s", #name);                      \
        return;                                                                         \
    }
    KILN_VK_GLOBAL_FUNCS(LOAD_GLOBAL)
#undef LOAD_GLOBAL
    g_loader_ok = 1;
}

const kiln_vk_loader *kiln_vk_loader_get(void)
{
    pthread_once(&g_loader_once, load_once);
    if (!g_loader_ok) {
        kiln_fail(KILN_ERR_UNAVAILABLE, "%s", g_loader_error);
        return NULL;
    }
    return &g_loader;
}

kiln_status kiln_vk_load_instance_funcs(VkInstance inst, kiln_vk_instance_funcs *f)
{
    const kiln_vk_loader *l = kiln_vk_loader_get();
    if (!l) return KILN_ERR_UNAVAILABLE;
    memset(f, 0, sizeof *f);
#define LOAD_INSTANCE(name)                                                          \
    f->name = (PFN_##name)l->vkGetInstanceProcAddr(inst, #name);                     \
    if (!f->name)                                                                    \
        return kiln_fail(KILN_ERR_UNAVAILABLE, "vulkan: instance function %s missing", #name);
    KILN_VK_INSTANCE_FUNCS(LOAD_INSTANCE)
#undef LOAD_INSTANCE
#define LOAD_OPTIONAL(name) f->name = (PFN_##name)l->vkGetInstanceProcAddr(inst, #name);
    KILN_VK_INSTANCE_OPT_FUNCS(LOAD_OPTIONAL)
#undef LOAD_OPTIONAL
    return KILN_OK;
}

kiln_status kiln_vk_load_device_funcs(const kiln_vk_instance_funcs *fi, VkDevice dev,
                                      kiln_vk_device_funcs *f)
{
    memset(f, 0, sizeof *f);
#define LOAD_DEVICE(name)                                                          \
    f->name = (PFN_##name)fi->vkGetDeviceProcAddr(dev, #name);                     \
    if (!f->name)                                                                  \
        return kiln_fail(KILN_ERR_UNAVAILABLE, "vulkan: device function %s missing", #name);
    KILN_VK_DEVICE_FUNCS(LOAD_DEVICE)
#undef LOAD_DEVICE
    return KILN_OK;
}

const char *kiln_vk_result_name(VkResult r)
{
    switch (r) {
#define NAME(x) case x: return #x;
    NAME(VK_SUCCESS) NAME(VK_NOT_READY) NAME(VK_TIMEOUT) NAME(VK_INCOMPLETE)
    NAME(VK_ERROR_OUT_OF_HOST_MEMORY) NAME(VK_ERROR_OUT_OF_DEVICE_MEMORY)
    NAME(VK_ERROR_INITIALIZATION_FAILED) NAME(VK_ERROR_DEVICE_LOST)
    NAME(VK_ERROR_MEMORY_MAP_FAILED) NAME(VK_ERROR_LAYER_NOT_PRESENT)
    NAME(VK_ERROR_EXTENSION_NOT_PRESENT) NAME(VK_ERROR_FEATURE_NOT_PRESENT)
    NAME(VK_ERROR_INCOMPATIBLE_DRIVER) NAME(VK_ERROR_TOO_MANY_OBJECTS)
    NAME(VK_ERROR_FORMAT_NOT_SUPPORTED) NAME(VK_ERROR_FRAGMENTED_POOL)
    NAME(VK_ERROR_OUT_OF_POOL_MEMORY) NAME(VK_ERROR_INVALID_SHADER_NV)
    NAME(VK_PIPELINE_COMPILE_REQUIRED)
#undef NAME
    default: return "VK_ERROR_UNKNOWN";
    }
}

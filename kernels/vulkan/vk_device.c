/* kernels/vulkan/vk_device.c — instances, device enumeration and feature queries.
 *
 * Devices are listed in a stable order: discrete GPUs first, then integrated,
 * virtual, CPU (lavapipe) and others, each group in the driver's order; index N
 * of "vulkan:N" is a position in that list. KILN_VULKAN_DEVICE=N moves device N
 * to the front, so "vulkan" (= "vulkan:0") picks it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernels/vulkan/vk_internal.h"

#define KILN_VK_MAX_DEVICES 16

static int has_layer(const kiln_vk_loader *l, const char *name)
{
    uint32_t n = 0;
    if (l->vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkLayerProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (l->vkEnumerateInstanceLayerProperties(&n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(p[i].layerName, name);
    free(p);
    return found;
}

static int has_instance_ext(const kiln_vk_loader *l, const char *layer, const char *name)
{
    uint32_t n = 0;
    if (l->vkEnumerateInstanceExtensionProperties(layer, &n, NULL) != VK_SUCCESS || n == 0) return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (l->vkEnumerateInstanceExtensionProperties(layer, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(p[i].extensionName, name);
    free(p);
    return found;
}

kiln_status kiln_vk_create_instance(int validation, VkInstance *out, kiln_vk_instance_funcs *fi,
                                    int *validation_on)
{
    const kiln_vk_loader *l = kiln_vk_loader_get();
    if (!l) return KILN_ERR_UNAVAILABLE;
    const char *layer = "VK_LAYER_KHRONOS_validation";
    int use_layer = validation && has_layer(l, layer);
    int use_debug = use_layer && (has_instance_ext(l, NULL, VK_EXT_DEBUG_UTILS_EXTENSION_NAME) ||
                                  has_instance_ext(l, layer, VK_EXT_DEBUG_UTILS_EXTENSION_NAME));
    const char *exts[1] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME};
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "kiln",
        .pEngineName = "kiln",
        .engineVersion = VK_MAKE_API_VERSION(0, KILN_VERSION_MAJOR, KILN_VERSION_MINOR, KILN_VERSION_PATCH),
        .apiVersion = VK_API_VERSION_1_2,
    };
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pApplicationInfo = &app,
        .enabledLayerCount = use_layer ? 1u : 0u,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = use_debug ? 1u : 0u,
        .ppEnabledExtensionNames = exts,
    };
    VkInstance inst = VK_NULL_HANDLE;
    VkResult r = l->vkCreateInstance(&ci, NULL, &inst);
    if (r != VK_SUCCESS)
        return kiln_fail(KILN_ERR_UNAVAILABLE, "vulkan: vkCreateInstance (Vulkan 1.2) failed: %s",
                         kiln_vk_result_name(r));
    kiln_status s = kiln_vk_load_instance_funcs(inst, fi);
    if (s != KILN_OK) {
        PFN_vkDestroyInstance destroy =
            (PFN_vkDestroyInstance)l->vkGetInstanceProcAddr(inst, "vkDestroyInstance");
        if (destroy) destroy(inst, NULL);
        return s;
    }
    if (!use_debug) fi->vkCreateDebugUtilsMessengerEXT = NULL;
    if (validation_on) *validation_on = use_layer;
    *out = inst;
    return KILN_OK;
}

/* The instance used to answer device_count/device_info without a context:
 * created once per process, without validation, never destroyed (a cache). */
static pthread_once_t g_enum_once = PTHREAD_ONCE_INIT;
static VkInstance g_enum_instance;
static kiln_vk_instance_funcs g_enum_funcs;
static kiln_status g_enum_status = KILN_ERR_UNAVAILABLE;
static char g_enum_error[512];

static void enum_once(void)
{
    g_enum_status = kiln_vk_create_instance(0, &g_enum_instance, &g_enum_funcs, NULL);
    if (g_enum_status != KILN_OK) snprintf(g_enum_error, sizeof g_enum_error, "%s", kiln_last_error());
}

kiln_status kiln_vk_enum_instance(VkInstance *inst, const kiln_vk_instance_funcs **fi)
{
    pthread_once(&g_enum_once, enum_once);
    if (g_enum_status != KILN_OK) return kiln_fail(g_enum_status, "%s", g_enum_error);
    *inst = g_enum_instance;
    *fi = &g_enum_funcs;
    return KILN_OK;
}

static int type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

kiln_status kiln_vk_physical_devices(VkInstance inst, const kiln_vk_instance_funcs *fi,
                                     VkPhysicalDevice *out, uint32_t cap, uint32_t *count)
{
    VkPhysicalDevice all[KILN_VK_MAX_DEVICES];
    uint32_t n = KILN_VK_MAX_DEVICES;
    VkResult r = fi->vkEnumeratePhysicalDevices(inst, &n, all);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE)
        return kiln_fail(KILN_ERR_UNAVAILABLE, "vulkan: vkEnumeratePhysicalDevices failed: %s",
                         kiln_vk_result_name(r));
    /* keep only devices with a compute queue, stable-sorted by type */
    VkPhysicalDevice sorted[KILN_VK_MAX_DEVICES];
    uint32_t m = 0;
    for (int rank = 0; rank <= 4; rank++)
        for (uint32_t i = 0; i < n; i++) {
            VkPhysicalDeviceProperties p;
            fi->vkGetPhysicalDeviceProperties(all[i], &p);
            if (type_rank(p.deviceType) == rank && kiln_vk_find_compute_queue(fi, all[i]) >= 0)
                sorted[m++] = all[i];
        }
    const char *env = getenv("KILN_VULKAN_DEVICE");
    if (env && *env) {
        char *end = NULL;
        long want = strtol(env, &end, 10);
        if (*end || want < 0 || (uint32_t)want >= m)
            return kiln_fail(KILN_ERR_UNAVAILABLE,
                             "vulkan: KILN_VULKAN_DEVICE=%s names no device (there are %u)", env, m);
        VkPhysicalDevice chosen = sorted[want];
        memmove(sorted + 1, sorted, (size_t)want * sizeof sorted[0]);
        sorted[0] = chosen;
    }
    for (uint32_t i = 0; i < m && i < cap; i++) out[i] = sorted[i];
    *count = m;
    return KILN_OK;
}

int kiln_vk_find_compute_queue(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd)
{
    VkQueueFamilyProperties q[32];
    uint32_t n = 32;
    fi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
    int any = -1;
    /* a compute queue without graphics is the dedicated one, which
     * does not compete with a display; else any queue with compute */
    for (uint32_t i = 0; i < n; i++) {
        if (!(q[i].queueFlags & VK_QUEUE_COMPUTE_BIT)) continue;
        if (!(q[i].queueFlags & VK_QUEUE_GRAPHICS_BIT) && q[i].timestampValidBits) return (int)i;
        if (any < 0) any = (int)i;
    }
    return any;
}

static int has_device_ext(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd, const char *name)
{
    uint32_t n = 0;
    if (fi->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, NULL) != VK_SUCCESS || !n) return 0;
    VkExtensionProperties *p = calloc(n, sizeof *p);
    if (!p) return 0;
    int found = 0;
    if (fi->vkEnumerateDeviceExtensionProperties(pd, NULL, &n, p) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++) found = !strcmp(p[i].extensionName, name);
    free(p);
    return found;
}

/* Whether the NV cooperative-matrix shapes include the one
 * templates/matmul_coopmat.comp uses: M = N = K = 16, A and B f16, C and D
 * f32, subgroup scope. */
static int coopmat_nv_has_f16_16x16x16(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd)
{
    if (!fi->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV) return 0;
    VkCooperativeMatrixPropertiesNV props[64];
    uint32_t n = 0;
    if (fi->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, NULL) != VK_SUCCESS) return 0;
    if (n > 64) n = 64;
    for (uint32_t i = 0; i < n; i++) props[i] = (VkCooperativeMatrixPropertiesNV){.sType = VK_STRUCTURE_TYPE_COOPERATIVE_MATRIX_PROPERTIES_NV};
    VkResult r = fi->vkGetPhysicalDeviceCooperativeMatrixPropertiesNV(pd, &n, props);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) return 0;
    for (uint32_t i = 0; i < n; i++) {
        const VkCooperativeMatrixPropertiesNV *p = &props[i];
        if (p->MSize == 16 && p->NSize == 16 && p->KSize == 16 && p->AType == VK_COMPONENT_TYPE_FLOAT16_NV &&
            p->BType == VK_COMPONENT_TYPE_FLOAT16_NV && p->CType == VK_COMPONENT_TYPE_FLOAT32_NV &&
            p->DType == VK_COMPONENT_TYPE_FLOAT32_NV && p->scope == VK_SCOPE_SUBGROUP_NV)
            return 1;
    }
    return 0;
}

void kiln_vk_query_caps(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd, kiln_vk_caps *caps)
{
    memset(caps, 0, sizeof *caps);
    VkPhysicalDeviceSubgroupProperties sub = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_SUBGROUP_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &sub};
    fi->vkGetPhysicalDeviceProperties2(pd, &p2);
    const VkPhysicalDeviceLimits *lim = &p2.properties.limits;
    caps->api_version = p2.properties.apiVersion;
    caps->subgroup_size = sub.subgroupSize;
    caps->subgroup_arith = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                           (sub.supportedOperations & VK_SUBGROUP_FEATURE_ARITHMETIC_BIT);
    caps->subgroup_shuffle = (sub.supportedStages & VK_SHADER_STAGE_COMPUTE_BIT) &&
                             (sub.supportedOperations & VK_SUBGROUP_FEATURE_SHUFFLE_BIT);
    caps->max_shared = lim->maxComputeSharedMemorySize;
    caps->max_invocations = lim->maxComputeWorkGroupInvocations;
    for (int i = 0; i < 3; i++) {
        caps->max_group_size[i] = lim->maxComputeWorkGroupSize[i];
        caps->max_group_count[i] = lim->maxComputeWorkGroupCount[i];
    }
    caps->max_push_constants = lim->maxPushConstantsSize;
    caps->max_storage_range = lim->maxStorageBufferRange;
    caps->storage_align = lim->minStorageBufferOffsetAlignment;
    caps->timestamp_period_ns = lim->timestampPeriod;

    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES};
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
                                            .pNext = &f12};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f11};
    if (VK_API_VERSION_MINOR(caps->api_version) >= 2 || VK_API_VERSION_MAJOR(caps->api_version) > 1) {
        fi->vkGetPhysicalDeviceFeatures2(pd, &f2);
        caps->storage16 = f11.storageBuffer16BitAccess;
        caps->storage8 = f12.storageBuffer8BitAccess;
        caps->float16 = f12.shaderFloat16;
        caps->int8 = f12.shaderInt8;
        caps->int16 = f2.features.shaderInt16;
    }
    caps->push_descriptor = has_device_ext(fi, pd, VK_KHR_PUSH_DESCRIPTOR_EXTENSION_NAME);
    caps->coopmat_nv = has_device_ext(fi, pd, "VK_NV_cooperative_matrix");
    caps->coopmat_nv_f16 = caps->coopmat_nv && coopmat_nv_has_f16_16x16x16(fi, pd);

    VkPhysicalDeviceMemoryProperties mem;
    fi->vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    /* Unified when every device-local type is also host-visible (lavapipe,
     * integrated GPUs): then buffers are mapped and no staging is needed. A
     * discrete GPU's small host-visible BAR window does not count. */
    int local = 0, local_visible = 0;
    for (uint32_t i = 0; i < mem.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = mem.memoryTypes[i].propertyFlags;
        if (!(f & VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT)) continue;
        local++;
        if ((f & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT) && (f & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT))
            local_visible++;
    }
    caps->unified_memory = local > 0 && local == local_visible &&
                           p2.properties.deviceType != VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU;

    int qf = kiln_vk_find_compute_queue(fi, pd);
    if (qf >= 0) {
        VkQueueFamilyProperties q[32];
        uint32_t n = 32;
        fi->vkGetPhysicalDeviceQueueFamilyProperties(pd, &n, q);
        caps->timestamps = q[qf].timestampValidBits > 0;
    }
}

static const char *vendor_name(uint32_t id)
{
    switch (id) {
    case 0x10DE: return "NVIDIA";
    case 0x1002: return "AMD";
    case 0x8086: return "Intel";
    case 0x13B5: return "ARM";
    case 0x5143: return "Qualcomm";
    case 0x106B: return "Apple";
    case 0x10005: return "Mesa";
    default: return "unknown";
    }
}

/* "llvmpipe Mesa 22.3.6 (LLVM 15.0.6) (Vulkan 1.3.230)" in cap bytes: the API
 * version always whole; when name and info do not both fit, the info alone
 * (it usually repeats the name), and only then cut, marked with "...". Never
 * a cut in the middle of a parenthesis that then reads as a different string. */
static void format_driver(char *out, size_t cap, const char *name, const char *drv_info, uint32_t v)
{
    char api[40], full[2 * VK_MAX_DRIVER_NAME_SIZE + 2];
    snprintf(api, sizeof api, " (Vulkan %u.%u.%u)", VK_API_VERSION_MAJOR(v) & 0x7fu, VK_API_VERSION_MINOR(v) & 0x3ffu,
             VK_API_VERSION_PATCH(v) & 0xfffu);
    size_t room = cap > strlen(api) ? cap - strlen(api) - 1 : 0; /* for the text before the API */
    size_t nl = strnlen(name, VK_MAX_DRIVER_NAME_SIZE), il = strnlen(drv_info, VK_MAX_DRIVER_INFO_SIZE);
    if (nl + 1 + il <= room) snprintf(full, sizeof full, "%.*s %.*s", (int)nl, name, (int)il, drv_info);
    else if (il <= room) snprintf(full, sizeof full, "%.*s", (int)il, drv_info);
    else snprintf(full, sizeof full, "%.*s...", room > 3 ? (int)(room - 3) : 0, drv_info);
    size_t fl = strlen(full) < room ? strlen(full) : room, al = strlen(api);
    if (fl + al + 1 > cap) al = cap > fl + 1 ? cap - fl - 1 : 0; /* cap too small even for the API */
    memcpy(out, full, fl);
    memcpy(out + fl, api, al);
    out[fl + al] = 0;
}

void kiln_vk_fill_info(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd, int index,
                       kiln_device_info *info)
{
    memset(info, 0, sizeof *info);
    VkPhysicalDeviceDriverProperties drv = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_DRIVER_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &drv};
    fi->vkGetPhysicalDeviceProperties2(pd, &p2);
    kiln_vk_caps caps;
    kiln_vk_query_caps(fi, pd, &caps);

    info->backend = KILN_BACKEND_VULKAN;
    info->index = index;
    snprintf(info->id, sizeof info->id, "vulkan:%d", index);
    snprintf(info->name, sizeof info->name, "%.120s", p2.properties.deviceName);
    snprintf(info->vendor, sizeof info->vendor, "%s", vendor_name(p2.properties.vendorID));
    uint32_t v = p2.properties.apiVersion;
    format_driver(info->driver, sizeof info->driver, drv.driverName, drv.driverInfo, v);
    VkPhysicalDeviceMemoryProperties mem;
    fi->vkGetPhysicalDeviceMemoryProperties(pd, &mem);
    for (uint32_t i = 0; i < mem.memoryHeapCount; i++)
        if (mem.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) info->memory_bytes += mem.memoryHeaps[i].size;
    info->multiprocessors = 0; /* Vulkan core does not report compute units */
    info->shared_mem_bytes = caps.max_shared;
    info->subgroup_size = (int)caps.subgroup_size;

    /* the feature words the kernels and the autotuner key on */
    struct { int on; const char *word; } words[] = {
        {caps.float16, "fp16"},
        {caps.int8, "int8"},
        {caps.int16, "int16"},
        {caps.storage16, "storage16"},
        {caps.storage8, "storage8"},
        {caps.subgroup_arith, "subgroup_arith"},
        {caps.subgroup_shuffle, "subgroup_shuffle"},
        {caps.push_descriptor, "push_descriptor"},
        {caps.coopmat_nv, "coopmat_nv"},
        {caps.unified_memory, "unified_memory"},
        {caps.timestamps, "timestamps"},
    };
    size_t len = 0;
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++) {
        if (!words[i].on) continue;
        int w = snprintf(info->features + len, sizeof info->features - len, "%s%s", len ? " " : "",
                         words[i].word);
        if (w < 0 || (size_t)w >= sizeof info->features - len) break;
        len += (size_t)w;
    }
}

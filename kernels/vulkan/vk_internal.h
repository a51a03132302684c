/* kernels/vulkan/vk_internal.h — state shared by the Vulkan backend's files.
 *
 * One kiln context owns one VkInstance (so validation and its debug messenger
 * are per context), one VkDevice with one compute queue, a command buffer that
 * collects dispatches until the next synchronize (or the caller's command
 * buffer, see set_queue), a staging buffer for discrete GPUs, and the compiled
 * pipelines of the specs it has run. */
#ifndef KILN_VK_INTERNAL_H
#define KILN_VK_INTERNAL_H

#include <pthread.h>

#include "kernels/core/backend.h"
#include "kernels/vulkan/vk_loader.h"

/* What the device can do, queried at context creation (never assumed). */
typedef struct kiln_vk_caps {
    uint32_t api_version;
    uint32_t subgroup_size;
    int subgroup_arith, subgroup_shuffle;
    int storage16, storage8, float16, int8, int16;
    int push_descriptor;
    int coopmat_nv;
    int coopmat_nv_f16;          /* ... offering 16x16x16 f16 x f16 -> f32 at subgroup scope */
    int unified_memory;          /* device-local memory is host-visible (lavapipe, iGPUs) */
    uint32_t max_shared;         /* maxComputeSharedMemorySize */
    uint32_t max_invocations;    /* maxComputeWorkGroupInvocations */
    uint32_t max_group_size[3];
    uint32_t max_group_count[3];
    uint32_t max_push_constants;
    uint64_t max_storage_range;
    uint64_t storage_align;      /* minStorageBufferOffsetAlignment */
    float timestamp_period_ns;
    int timestamps;              /* the compute queue has timestamp bits */
} kiln_vk_caps;

typedef struct kiln_vk_pipeline {
    struct kiln_vk_pipeline *next;
    kiln_spec spec;
    VkPipeline pipeline;
    uint32_t local_size[3];
} kiln_vk_pipeline;

typedef struct kiln_vk_context {
    kiln_vk_instance_funcs fi;
    kiln_vk_device_funcs fd;
    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    VkPhysicalDevice phys;
    VkDevice device;
    VkQueue queue;
    uint32_t queue_family;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem;
    kiln_vk_caps caps;
    int validation;              /* VK_LAYER_KHRONOS_validation is on */
    int coopmat;                 /* VK_NV_cooperative_matrix enabled (opt-in: KILN_VULKAN_COOPMAT=1) */

    /* Validation messages (errors) seen since the last check; the messenger
     * callback runs on whatever thread made the call, hence the lock. */
    pthread_mutex_t msg_lock;
    int validation_errors;
    char validation_msg[1024];

    /* kiln's own submission path */
    VkCommandPool pool;
    VkCommandBuffer cmd;
    VkFence fence;
    int recording;               /* cmd is between begin and end */
    int pending;                 /* dispatches recorded since the last submit */
    VkCommandBuffer caller_cmd;  /* set_queue: record here, never submit */

    /* staging for discrete devices (grown on demand) */
    VkBuffer staging;
    VkDeviceMemory staging_mem;
    void *staging_map;
    size_t staging_size;

    /* per-op descriptor set layouts (push descriptors) and pipeline layouts */
    VkDescriptorSetLayout set_layout[KILN_OP_COUNT];
    VkPipelineLayout pipe_layout[KILN_OP_COUNT];
    VkPipelineCache pipeline_cache;
    char pipeline_cache_path[1200];
    char spirv_cache_dir[1100];
    pthread_mutex_t pipe_lock;
    kiln_vk_pipeline *pipelines;
    int pipelines_created;       /* statistics for tests: pipelines built (not reused) */
    int spirv_compiles;          /* SPIR-V compiled (not read from disk) */

    /* f32 scratch of the SwiGLU up products (matmul), grown on demand; buffers
     * outgrown while a caller's command buffer may still use them are retired
     * and freed with the context */
    VkBuffer scratch;
    VkDeviceMemory scratch_mem;
    size_t scratch_size;
    VkBuffer retired[16];
    VkDeviceMemory retired_mem[16];
    int n_retired;

    /* timestamps: written at the start and end of each of kiln's submissions */
    VkQueryPool query_pool;
    double last_submit_ns;
} kiln_vk_context;

/* Bindings per op (kernels/vulkan/templates/<op>.comp declare the same). */
enum { KILN_VK_MAX_BINDINGS = 8 };
uint32_t kiln_vk_op_binding_count(kiln_op op);

static inline kiln_vk_context *kiln_vk_ctx(kiln_context *ctx) { return (kiln_vk_context *)ctx->impl; }

/* vk_device.c: instance creation for enumeration and contexts, device queries */
kiln_status kiln_vk_create_instance(int validation, VkInstance *out, kiln_vk_instance_funcs *fi,
                                    int *validation_on);
kiln_status kiln_vk_enum_instance(VkInstance *inst, const kiln_vk_instance_funcs **fi);
kiln_status kiln_vk_physical_devices(VkInstance inst, const kiln_vk_instance_funcs *fi,
                                     VkPhysicalDevice *out, uint32_t cap, uint32_t *count);
void kiln_vk_query_caps(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd, kiln_vk_caps *caps);
void kiln_vk_fill_info(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd, int index,
                       kiln_device_info *info);
int kiln_vk_find_compute_queue(const kiln_vk_instance_funcs *fi, VkPhysicalDevice pd);

/* vk_context.c: command recording and submission */
/* The command buffer to record into: the caller's, or kiln's (begun on demand). */
kiln_status kiln_vk_begin(kiln_vk_context *vk, VkCommandBuffer *out);
/* Submit what kiln's own command buffer holds and wait for it. */
kiln_status kiln_vk_flush(kiln_vk_context *vk);
/* KILN_ERR_DEVICE with the message when validation reported an error. */
kiln_status kiln_vk_check_validation(kiln_vk_context *vk, const char *where);
kiln_status kiln_vk_fail_result(VkResult r, const char *what);

/* vk_buffer.c */
int kiln_vk_memory_type(const kiln_vk_context *vk, uint32_t type_bits, VkMemoryPropertyFlags want);
kiln_status kiln_vk_create_buffer(kiln_vk_context *vk, VkDeviceSize size, VkBufferUsageFlags usage,
                                  VkMemoryPropertyFlags want, VkBuffer *buf, VkDeviceMemory *mem,
                                  void **map);
void kiln_vk_destroy_buffer(kiln_vk_context *vk, VkBuffer buf, VkDeviceMemory mem);

/* vk_pipeline.c */
kiln_status kiln_vk_layouts_create(kiln_vk_context *vk);
void kiln_vk_pipelines_destroy(kiln_vk_context *vk);
kiln_status kiln_vk_can_implement(kiln_context *ctx, const kiln_spec *spec);
kiln_status kiln_vk_pipeline_get(kiln_context *ctx, const kiln_spec *spec, const kiln_vk_pipeline **out);
/* Build spec's pipeline ahead of its first run; thread-safe (the vtable's precompile). */
kiln_status kiln_vk_pipelines_precompile(kiln_context *ctx, const kiln_spec *spec);
void kiln_vk_pipeline_cache_save(kiln_vk_context *vk);

/* vk_ops.c */
kiln_status kiln_vk_run(kiln_context *ctx, const kiln_spec *spec, const void *params);

#endif

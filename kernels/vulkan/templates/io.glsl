/* kernels/vulkan/templates/io.glsl — buffer declarations, typed loads/stores
 * and workgroup indexing shared by the Vulkan op templates.
 *
 * Every tensor is its own binding, bound by the host at a 16-byte aligned
 * offset at or below the tensor's first byte; the push constants carry the
 * remaining byte offset (`*_off`) and byte strides, so kernels address bytes
 * exactly as the CPU and CUDA paths do. A binding has three aliased views
 * (b_u8, b_u16, b_u32), which is what the dialect's KILN_LD_* expect. */
#extension GL_EXT_control_flow_attributes : enable

#define KILN_VK_RO_BUFFER(b, bind)                                                        \
    layout(std430, set = 0, binding = bind) readonly buffer b##_view8 { uint8_t b##_u8[]; };   \
    layout(std430, set = 0, binding = bind) readonly buffer b##_view16 { uint16_t b##_u16[]; }; \
    layout(std430, set = 0, binding = bind) readonly buffer b##_view32 { uint b##_u32[]; };
#define KILN_VK_RW_BUFFER(b, bind)                                                        \
    layout(std430, set = 0, binding = bind) buffer b##_view8 { uint8_t b##_u8[]; };            \
    layout(std430, set = 0, binding = bind) buffer b##_view16 { uint16_t b##_u16[]; };          \
    layout(std430, set = 0, binding = bind) buffer b##_view32 { uint b##_u32[]; };

/* The buffer gen/math/dequant.h reads (kiln_dequant): the weights of matmul,
 * the K cache of paged attention; declared here because this file is inlined
 * ahead of the shared math (gen/math/dialect_glsl.h includes it). Ops that
 * never dequantize alias it to their first input, unused. */
#if defined(KILN_OP_MATMUL) || defined(KILN_OP_PAGED_ATTN) || defined(KILN_OP_FLASH_ATTN)
#define KILN_VK_W_BINDING 1
#else
#define KILN_VK_W_BINDING 0
#endif
KILN_VK_RO_BUFFER(w, KILN_VK_W_BINDING)

/* The workgroup size is a specialization constant (id 0), set by the host
 * from the spec's launch description (gen/launch_vulkan.c). */
layout(local_size_x_id = 0, local_size_y = 1, local_size_z = 1) in;

/* Loads of the activation dtype (act) and stores of the output dtype (out). */
#if defined(KILN_ACT_F32)
#define KILN_VK_LD_ACT(b, off) KILN_LD_F32(b, off)
#define KILN_VK_ACT_BYTES 4u
#elif defined(KILN_ACT_F16)
#define KILN_VK_LD_ACT(b, off) KILN_LD_F16(b, off)
#define KILN_VK_ACT_BYTES 2u
#else
#define KILN_VK_LD_ACT(b, off) KILN_LD_BF16(b, off)
#define KILN_VK_ACT_BYTES 2u
#endif

/* f32 -> bf16 bits, round to nearest even; NaN stays NaN (quiet). */
uint kiln_vk_f32_to_bf16(float v)
{
    uint u = floatBitsToUint(v);
    if ((u & 0x7fffffffu) > 0x7f800000u) return (u >> 16) | 0x40u;
    return (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
}

#if defined(KILN_OUT_F32)
#define KILN_VK_ST_OUT(b, off, v) b##_u32[(off) >> 2] = floatBitsToUint(v)
#define KILN_VK_LD_OUT(b, off) KILN_LD_F32(b, off)
#define KILN_VK_OUT_BYTES 4u
#elif defined(KILN_OUT_F16)
#define KILN_VK_ST_OUT(b, off, v) b##_u16[(off) >> 1] = uint16_t(packHalf2x16(vec2((v), 0.0)) & 0xffffu)
#define KILN_VK_LD_OUT(b, off) KILN_LD_F16(b, off)
#define KILN_VK_OUT_BYTES 2u
#else
#define KILN_VK_ST_OUT(b, off, v) b##_u16[(off) >> 1] = uint16_t(kiln_vk_f32_to_bf16(v))
#define KILN_VK_LD_OUT(b, off) KILN_LD_BF16(b, off)
#define KILN_VK_OUT_BYTES 2u
#endif

/* Stores in a dtype chosen at run time (0 f32, 1 f16, 2 bf16): attention
 * writes o in o's dtype, which a spec (out = act) does not pin down. */
#define KILN_VK_ST_ANY(b, code, off, v)                                                     \
    if ((code) == 0u) b##_u32[(off) >> 2] = floatBitsToUint(v);                               \
    else if ((code) == 1u) b##_u16[(off) >> 1] = uint16_t(packHalf2x16(vec2((v), 0.0)) & 0xffffu); \
    else b##_u16[(off) >> 1] = uint16_t(kiln_vk_f32_to_bf16(v))

/* Workgroups are numbered linearly and folded into x and y by the host when
 * one dimension would exceed maxComputeWorkGroupCount (65535 on many GPUs). */
uint kiln_vk_group_id() { return gl_WorkGroupID.x + gl_WorkGroupID.y * gl_NumWorkGroups.x; }

/* Sum of v over the workgroup through shared memory `red` (declared by the
 * template, NT floats). Works for any NT (not only powers of two). Every
 * invocation must call it (it contains barriers); all of them get the sum. */
#define KILN_VK_POW2_AT_LEAST(n) ((n) <= 32 ? 32 : (n) <= 64 ? 64 : (n) <= 128 ? 128 : (n) <= 256 ? 256 : (n) <= 512 ? 512 : 1024)
#define KILN_VK_DEFINE_REDUCE_SUM(NT)                                          \
    float kiln_vk_reduce_sum(float v)                                          \
    {                                                                          \
        uint t = gl_LocalInvocationID.x;                                       \
        barrier();                                                             \
        red[t] = v;                                                            \
        barrier();                                                             \
        for (uint s = uint(KILN_VK_POW2_AT_LEAST(NT)) / 2u; s > 0u; s >>= 1) { \
            if (t < s && t + s < uint(NT)) red[t] += red[t + s];               \
            barrier();                                                         \
        }                                                                      \
        return red[0];                                                         \
    }

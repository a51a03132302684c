/* kernels/cuda/templates/cuda_args.h — kernel parameter blocks of the CUDA kernels.
 *
 * Shared by the host (kernels/cuda/cuda_launch.c, C) and the kernels (CUDA C
 * through NVRTC): every kernel takes one of these structs by value, so host
 * and device agree on one layout written once. Only 8-byte fields come first
 * and 4-byte fields after, so the layout is the same under both compilers.
 * Addresses are CUdeviceptr values (0 = absent); strides are in bytes. */
#ifndef KILN_CUDA_ARGS_H
#define KILN_CUDA_ARGS_H

typedef struct kiln_cu_matmul_args {
    unsigned long long x, w, w_up, bias, res, y;
    unsigned long long xq; /* mat-vec of q4_0/q8_0: x quantized to int8 per 32 (workspace) */
    long long x_stride, w_stride, w_up_stride, res_stride, y_stride; /* per row */
    long long xq_stride;   /* bytes per column of xq: k int8, then k/32 f32 scales */
    int n, m, k;
    int x_vec_ok; /* 1 when x rows and base are 16-byte aligned (vector loads) */
    float scale;  /* the SCALE epilogue's factor */
} kiln_cu_matmul_args;

typedef struct kiln_cu_flash_args {
    unsigned long long q, k, v, o;
    long long q_s0, q_s1, k_s0, k_s1, v_s0, v_s1, o_s0, o_s1; /* [token][head] strides */
    long long q_pos0;
    int n_q, n_kv, n_head, n_kv_head, head_dim, causal;
    float scale;
    int q_type, o_type; /* KILN_T_* of q and o: the API lets them differ from each other and from K/V */
} kiln_cu_flash_args;

typedef struct kiln_cu_paged_args {
    unsigned long long q, o, kc, vc, bt, sl, ws;
    long long q_s0, q_s1, o_s0, o_s1;
    long long kc_s0, kc_s1, kc_s2, vc_s0, vc_s1, vc_s2; /* [block][slot][head] strides */
    long long bt_s0;
    int n_seq, n_head, n_kv_head, head_dim, block_size, max_blocks;
    int n_split, split_len; /* KV splits and tokens per split (a multiple of 32) */
    float scale;
    int q_type, o_type; /* KILN_T_* of q and o */
} kiln_cu_paged_args;

typedef struct kiln_cu_norm_args {
    unsigned long long x, res, w, b, sum, y;
    long long x_s, res_s, sum_s, y_s; /* per row */
    int rows, dim;
    float eps;
    int pad_;
} kiln_cu_norm_args;

/* RoPE + optional KV append (kc = 0: rotation only). One block per token. */
typedef struct kiln_cu_rope_args {
    unsigned long long q, k, v, pos, slots, kc, vc;
    long long q_s0, q_s1, k_s0, k_s1, v_s0, v_s1;       /* [token][head] strides */
    long long kc_s0, kc_s1, kc_s2, vc_s0, vc_s1, vc_s2; /* [block][slot][head] strides */
    int n, n_head, n_kv_head, head_dim, rope_dim, neox, block_size, n_blocks;
    float theta, freq_scale;
} kiln_cu_rope_args;

#endif

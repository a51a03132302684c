/* runtime/model.h — a Llama-family model as the runtime holds it on the host
 * (internal; the API is in include/kiln/runtime.h).
 *
 * Every source (GGUF, llama2.c checkpoint, synthetic preset) fills the same
 * kiln_model: a config and one kiln_weight per tensor role and layer. The
 * weights point into memory the model owns (the GGUF mapping, the checkpoint
 * read into memory, or generated data); sessions put them on a device. */
#ifndef KILN_RUNTIME_MODEL_H
#define KILN_RUNTIME_MODEL_H

#include "kiln/runtime.h"

/* The tensors of a Llama block and of the model around the blocks. */
typedef enum kiln_role {
    KILN_ROLE_TOKEN_EMBD,  /* [n_vocab][dim] */
    KILN_ROLE_OUTPUT_NORM, /* [dim] f32 */
    KILN_ROLE_OUTPUT,      /* [n_vocab][dim]; absent = tied to TOKEN_EMBD */
    KILN_ROLE_ATTN_NORM,   /* per layer [dim] f32 */
    KILN_ROLE_ATTN_Q,      /* [n_head*head_dim][dim] */
    KILN_ROLE_ATTN_K,      /* [n_kv_head*head_dim][dim] */
    KILN_ROLE_ATTN_V,      /* [n_kv_head*head_dim][dim] */
    KILN_ROLE_ATTN_OUT,    /* [dim][n_head*head_dim] */
    KILN_ROLE_FFN_NORM,    /* [dim] f32 */
    KILN_ROLE_FFN_GATE,    /* [hidden][dim] */
    KILN_ROLE_FFN_UP,      /* [hidden][dim] */
    KILN_ROLE_FFN_DOWN,    /* [dim][hidden] */
    KILN_ROLE_COUNT
} kiln_role;

#define KILN_ROLE_FIRST_PER_LAYER KILN_ROLE_ATTN_NORM

/* One tensor on the host: rows x cols (cols innermost), any kiln dtype. */
typedef struct kiln_weight {
    const void *data;   /* NULL = absent */
    kiln_dtype dtype;
    int64_t rows, cols; /* 1-D tensors: rows = 1 */
} kiln_weight;

typedef struct kiln_layer_weights {
    kiln_weight w[KILN_ROLE_COUNT]; /* only the per-layer roles are used */
} kiln_layer_weights;

struct kiln_model {
    kiln_model_config cfg;
    kiln_weight token_embd, output_norm, output;
    kiln_layer_weights *layers;   /* [n_layers] */
    kiln_tokenizer *tokenizer;    /* NULL: ids only */
    kiln_gguf *gguf;              /* when loaded from GGUF (owns the mapping) */
    void **owned;                 /* malloc'ed blocks freed with the model */
    int n_owned, cap_owned;
};

/* Per-architecture knowledge: GGUF tensor names of each role and the metadata
 * that makes the config. One small file per architecture (arch_llama.c). */
typedef struct kiln_arch {
    const char *name;                         /* general.architecture */
    const char *tensor_names[KILN_ROLE_COUNT];/* printf patterns, %d = layer */
    int output_optional;                      /* output.weight may be absent (tied) */
    kiln_status (*read_config)(const kiln_gguf *g, kiln_model_config *cfg);
} kiln_arch;

extern const kiln_arch kiln_arch_llama;
const kiln_arch *kiln_arch_find(const char *name, size_t len);
const char *kiln_role_name(kiln_role r);

/* Loaders (model_gguf.c, model_llama2c.c, model_synth.c). */
/* tokenizer_pre: kiln_model_load_options's (NULL: the file's). */
kiln_status kiln_model_load_gguf(kiln_model *m, const char *path, const char *tokenizer_pre);
kiln_status kiln_model_load_llama2c(kiln_model *m, const char *path);
kiln_status kiln_model_load_synthetic(kiln_model *m, const char *spec);

/* Bookkeeping shared by the loaders (model.c). */
kiln_model *kiln_model_alloc(void);
void *kiln_model_own(kiln_model *m, size_t bytes); /* malloc, freed with the model; NULL on OOM */
/* Checks shapes against the config, that each weight exists and has a dtype
 * the matmul takes; the message names the offending tensor. */
kiln_status kiln_model_check(const kiln_model *m);
/* Refuses weights holding NaN or infinity (f32/f16/bf16 values, quantized
 * blocks' scales), naming the tensor and the block (model_finite.c). */
kiln_status kiln_model_check_finite(const kiln_model *m);

#endif

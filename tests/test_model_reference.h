/* tests/test_model_reference.h — a plain C fp32 forward pass over kiln_model's
 * host weights (tests/test_model_reference.c), the yardstick of the runtime
 * tests. One sequence, token by token. */
#ifndef KILN_TESTS_TEST_MODEL_REFERENCE_H
#define KILN_TESTS_TEST_MODEL_REFERENCE_H

#include "runtime/model.h"

typedef struct kiln_ref_state {
    const kiln_model *m;
    int max_pos;
    float *x, *xb, *q, *att, *h1, *h3, *scratch, *logits, *tmp;
    float *k, *v; /* [layer][pos][kv_dim] */
} kiln_ref_state;

kiln_ref_state *kiln_ref_create(const kiln_model *m, int max_pos);
void kiln_ref_free(kiln_ref_state *s);
/* Logits [n_vocab] of token at pos (positions must come in order from 0). */
const float *kiln_ref_forward(kiln_ref_state *s, int token, int pos);
/* The 64 reference ids of stories260K greedy from BOS; -1 if absent. */
int kiln_ref_read_expected(int32_t *ids, int cap);

#endif

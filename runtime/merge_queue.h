/* runtime/merge_queue.h — the priority queue of adjacent symbol pairs that both
 * tokenizers merge from: SentencePiece by score (highest first), BPE by merge
 * rank (lowest first, queued as priority -rank). Ties: the leftmost pair. */
#ifndef KILN_RUNTIME_MERGE_QUEUE_H
#define KILN_RUNTIME_MERGE_QUEUE_H
#include <stddef.h>

typedef struct kiln_merge_pair {
    int left, right;   /* symbol indices */
    double priority;   /* higher merges first */
    size_t size;       /* bytes of the pair when queued; a mismatch later means it is stale */
} kiln_merge_pair;

typedef struct kiln_merge_queue {
    kiln_merge_pair *items;
    size_t n, cap;
} kiln_merge_queue;

/* 0, or -1 when out of memory. */
int kiln_merge_queue_push(kiln_merge_queue *q, kiln_merge_pair p);
/* The first pair; q must not be empty. */
kiln_merge_pair kiln_merge_queue_pop(kiln_merge_queue *q);
void kiln_merge_queue_free(kiln_merge_queue *q);

#endif

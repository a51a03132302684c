/* runtime/merge_queue.c — a binary heap of symbol pairs (see merge_queue.h). */
#include <stdlib.h>

#include "runtime/merge_queue.h"

static int before(const kiln_merge_pair *a, const kiln_merge_pair *b)
{
    return a->priority > b->priority || (a->priority == b->priority && a->left < b->left);
}

int kiln_merge_queue_push(kiln_merge_queue *q, kiln_merge_pair p)
{
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        kiln_merge_pair *items = realloc(q->items, cap * sizeof *items);
        if (!items) return -1;
        q->items = items;
        q->cap = cap;
    }
    size_t i = q->n++;
    while (i > 0 && before(&p, &q->items[(i - 1) / 2])) {
        q->items[i] = q->items[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    q->items[i] = p;
    return 0;
}

kiln_merge_pair kiln_merge_queue_pop(kiln_merge_queue *q)
{
    kiln_merge_pair top = q->items[0], last = q->items[--q->n];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= q->n) break;
        if (c + 1 < q->n && before(&q->items[c + 1], &q->items[c])) c++;
        if (!before(&q->items[c], &last)) break;
        q->items[i] = q->items[c];
        i = c;
    }
    if (q->n) q->items[i] = last;
    return top;
}

void kiln_merge_queue_free(kiln_merge_queue *q)
{
    free(q->items);
    q->items = NULL;
    q->n = q->cap = 0;
}

// expect: exit 0
// env: ZSLAB_SHARE_AFTER=0
/* shared_chunks: 32- and 64-byte blocks share spans in 1 KiB chunks under
 * zslab (each chunk serving one of the two sizes, changing size when it
 * empties).  Two threads allocate blocks of 1..64 bytes in random order,
 * fill each with a pattern, hand a third of them to the other thread to
 * free (remote frees into shared spans), resize some across the two sizes
 * with realloc, and check every block's contents, usable size and
 * alignment before freeing it.  Rounds alternate between phases dominated
 * by one size or the other, so chunks keep changing size.
 */
#include "common.h"

#include <pthread.h>

#ifndef TEST_NAME
#define TEST_NAME "shared_chunks"
#endif

#define LIVE 4096
#define ROUNDS 200
#define XFER 1024

struct blk {
    unsigned char *p;
    size_t n;
    uint64_t seed;
};

/* A mailbox of blocks handed to the other thread. */
struct box {
    pthread_mutex_t mu;
    struct blk b[XFER];
    unsigned n;
};
static struct box boxes[2] = {{PTHREAD_MUTEX_INITIALIZER, {{0}}, 0},
                              {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0}};

static uint64_t next(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void fill(struct blk *b)
{
    for (size_t i = 0; i < b->n; i++)
        b->p[i] = (unsigned char)(b->seed + i * 131);
}

static void verify(const struct blk *b, const char *what)
{
    for (size_t i = 0; i < b->n; i++)
        if (b->p[i] != (unsigned char)(b->seed + i * 131))
            FAIL("%s: %zu-byte block %p corrupted at offset %zu", what, b->n, (void *)b->p, i);
    size_t us = malloc_usable_size(b->p);
    CHECK(us >= b->n, "usable size %zu of a %zu-byte block", us, b->n);
    CHECK(((uintptr_t)b->p & 15) == 0, "%p misaligned", (void *)b->p);
}

static void drain(int me)
{
    struct box *bx = &boxes[me];
    pthread_mutex_lock(&bx->mu);
    for (unsigned i = 0; i < bx->n; i++) {
        verify(&bx->b[i], "handed over");
        free(bx->b[i].p);
    }
    bx->n = 0;
    pthread_mutex_unlock(&bx->mu);
}

static void *run(void *arg)
{
    int me = (int)(intptr_t)arg;
    uint64_t s = 0x9e3779b97f4a7c15ull * (uint64_t)(me + 1);
    static __thread struct blk live[LIVE];
    for (int r = 0; r < ROUNDS; r++) {
        /* Phases lean to one size, then the other. */
        size_t lo = (r & 1) ? 33 : 1, hi = (r & 1) ? 64 : 40;
        for (int i = 0; i < LIVE; i++) {
            struct blk *b = &live[i];
            b->n = lo + next(&s) % (hi - lo + 1);
            b->seed = next(&s);
            if (next(&s) % 16 == 0) {
                b->p = aligned_alloc(64, 64);
                b->n = 64;
                CHECK(b->p && ((uintptr_t)b->p & 63) == 0, "aligned_alloc(64, 64) = %p", (void *)b->p);
            } else {
                b->p = malloc(b->n);
                CHECK(b->p != NULL, "malloc(%zu)", b->n);
            }
            fill(b);
        }
        for (int i = 0; i < LIVE; i++) {
            struct blk *b = &live[i];
            verify(b, "own");
            uint64_t x = next(&s) % 6;
            if (x < 2) {
                /* To the other thread, which frees it. */
                struct box *bx = &boxes[!me];
                pthread_mutex_lock(&bx->mu);
                if (bx->n < XFER) {
                    bx->b[bx->n++] = *b;
                    b->p = NULL;
                }
                pthread_mutex_unlock(&bx->mu);
                if (b->p)
                    free(b->p);
            } else if (x == 2) {
                /* Across the two sizes, keeping the common prefix. */
                size_t n = b->n <= 32 ? 33 + next(&s) % 32 : 1 + next(&s) % 32;
                size_t keep = n < b->n ? n : b->n;
                unsigned char *q = realloc(b->p, n);
                CHECK(q != NULL, "realloc(%zu)", n);
                b->p = q;
                b->n = keep;
                verify(b, "realloc");
                free(q);
            } else {
                free(b->p);
            }
            if (i % 512 == 0)
                drain(me);
        }
        drain(me);
    }
    return NULL;
}

int main(void)
{
    pthread_t t;
    CHECK(pthread_create(&t, NULL, run, (void *)(intptr_t)1) == 0, "pthread_create");
    run((void *)0);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    drain(0);
    drain(1);
    /* Usable sizes of the two shared sizes. */
    for (size_t n = 1; n <= 64; n++) {
        void *p = malloc(n);
        size_t us = malloc_usable_size(p);
        CHECK(us >= n && us < n + 32, "malloc_usable_size(malloc(%zu)) = %zu", n, us);
        free(p);
    }
    ok(TEST_NAME);
    return 0;
}

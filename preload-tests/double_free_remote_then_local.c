// expect: signal SIGABRT stderr "zslab: double free"
// env: GLIBC_TUNABLES=glibc.malloc.tcache_count=0
/* double_free_remote_then_local: another thread frees a 48-byte block the
 * main thread allocated, then (ordered by a join) the main thread frees it
 * again, before anything has folded the remote free in. The second free
 * must be caught: the block is already free, pending in its slab. glibc
 * with tcache off aborts too (fasttop check).
 */
#include "common.h"

#include <pthread.h>

static void *volatile blk;

static void *other(void *a)
{
    (void)a;
    free(blk);
    return NULL;
}

int main(void)
{
    pthread_t t;
    void *keep = malloc(48); /* keeps the slab in use */
    blk = malloc(48);
    CHECK(pthread_create(&t, NULL, other, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    free(blk); /* the double free */
    char *q = malloc(48);
    static char *v[10000];
    for (int i = 0; i < 10000; i++) {
        v[i] = malloc(48);
        CHECK(v[i] != q, "block %p handed out twice (allocation #%d after q)", (void *)q, i);
    }
    free(keep);
    FAIL("the double free went unnoticed");
}

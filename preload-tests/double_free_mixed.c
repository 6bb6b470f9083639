// expect: signal SIGABRT stderr "zslab: double free"
// env: GLIBC_TUNABLES=glibc.malloc.tcache_count=0
/* double_free_mixed: the owning thread frees a 32-byte block, then another
 * thread frees it again (the main thread waits on a barrier in between, so
 * the two frees are ordered). The first free puts the block back where the
 * owner's next malloc takes it from; the second must still be caught, not
 * folded in later as a fresh free (which would hand the block out twice).
 * If the free is not caught, the program goes on to check that no two
 * live blocks share an address and fails loudly. glibc with tcache off
 * aborts on the second free too (fasttop check).
 */
#include "common.h"

#include <pthread.h>

static void *volatile blk;
static pthread_barrier_t b1, b2;

static void *other(void *a)
{
    (void)a;
    pthread_barrier_wait(&b1);
    free(blk); /* the double free, from another thread */
    pthread_barrier_wait(&b2);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_barrier_init(&b1, NULL, 2);
    pthread_barrier_init(&b2, NULL, 2);
    CHECK(pthread_create(&t, NULL, other, NULL) == 0, "pthread_create");
    blk = malloc(32);
    free(blk);
    pthread_barrier_wait(&b1);
    pthread_barrier_wait(&b2);
    pthread_join(t, NULL);
    char *q = malloc(32);
    strcpy(q, "live q");
    static char *v[10000];
    for (int i = 0; i < 10000; i++) {
        v[i] = malloc(32);
        CHECK(v[i] != q, "block %p handed out twice (allocation #%d after q)", (void *)q, i);
    }
    FAIL("the double free went unnoticed");
}

// expect: signal SIGABRT stderr "zslab: double free"
// env: GLIBC_TUNABLES=glibc.malloc.tcache_count=0
// env: ZSLAB_SHARE_AFTER=0
/* double_free_shared: a 64-byte block, allocated among 32-byte ones (under
 * zslab they share spans in 1 KiB chunks), is freed by the worker that
 * allocated it; while that thread is still alive, the main thread frees the same
 * pointer again.  The second free happens in a different thread than the
 * one that owns the block and did the first free, and must abort.
 *
 * glibc only detects a double free when the block is still at the top of a
 * bin it can see; with per-thread caches (tcache) a free from another
 * thread goes unnoticed, so the `env:` line turns glibc's tcache off (the
 * tunable means nothing to zslab).  glibc then aborts with
 * "double free or corruption (fasttop)"; in `none` mode only the SIGABRT is
 * checked.
 */
#include "common.h"

#include <pthread.h>

static char *volatile block;
static pthread_barrier_t freed, done;

static void *worker(void *arg)
{
    (void)arg;
    void *keep = malloc(32);
    void *mixed[16];
    for (int i = 0; i < 16; i++)
        mixed[i] = malloc(i % 2 ? 24 : 48);
    block = malloc(64);
    CHECK(block != NULL && keep != NULL, "malloc");
    memset(block, 0x5c, 64);
    free(block);
    pthread_barrier_wait(&freed);
    /* Stay alive while the main thread double-frees. */
    pthread_barrier_wait(&done);
    free(keep);
    for (int i = 0; i < 16; i++)
        free(mixed[i]);
    return NULL;
}

int main(void)
{
    pthread_t t;
    pthread_barrier_init(&freed, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
    pthread_barrier_wait(&freed);
    printf("worker freed %p; freeing it again from the main thread\n", (void *)block);
    fflush(stdout);
    free(block); /* must abort */
    printf("FAIL: remote double free of %p returned\n", (void *)block);
    fflush(stdout);
    pthread_barrier_wait(&done);
    pthread_join(t, NULL);
    return 1;
}

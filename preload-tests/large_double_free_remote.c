// expect: signal SIGABRT stderr "zslab: double free detected in free()"
// env: GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432
/* large_double_free_remote: a 300 KB block allocated by the main thread is
 * freed by a worker thread (which stays alive); then the main thread, the
 * block's owner, frees it again.  The second free must be reported and
 * abort, though the first one happened in another thread.
 * glibc would mmap the block and fault on the second free; the tunable
 * (which means nothing to zslab) keeps it in glibc's arena, where glibc
 * aborts with "double free or corruption".
 */
#include "common.h"

#include <pthread.h>

static char *volatile block;
static pthread_barrier_t freed, done;

static void *worker(void *arg)
{
    (void)arg;
    free(block);
    pthread_barrier_wait(&freed);
    pthread_barrier_wait(&done); /* stay alive during the double free */
    return NULL;
}

int main(void)
{
    pthread_t t;
    printf("large_double_free_remote\n");
    fflush(stdout);
    void *keep1 = malloc(300000);
    block = malloc(300000);
    void *keep2 = malloc(300000);
    CHECK(block && keep1 && keep2, "malloc");
    memset(block, 0x5c, 300000);
    pthread_barrier_init(&freed, NULL, 2);
    pthread_barrier_init(&done, NULL, 2);
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
    pthread_barrier_wait(&freed);
    printf("worker freed %p; freeing it again from the owner thread\n", (void *)block);
    fflush(stdout);
    free(block); /* must abort */
    printf("FAIL: double free of %p returned\n", (void *)block);
    fflush(stdout);
    pthread_barrier_wait(&done);
    pthread_join(t, NULL);
    return 1;
}

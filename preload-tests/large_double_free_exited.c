// expect: signal SIGABRT stderr "zslab: double free detected in free()"
// expect-none: signal SIGSEGV
/* large_double_free_exited: a worker thread allocates a 3 MiB block, frees
 * it and exits; after the join, the main thread frees the same pointer
 * again.  The second free must be reported and abort although the block's
 * owner is gone (its memory may have been handed to another heap or
 * cached).  glibc mmapped the block and unmapped it at the first free: its
 * second free faults (SIGSEGV).
 */
#include "common.h"

#include <pthread.h>

static char *volatile block;

static void *worker(void *arg)
{
    (void)arg;
    void *keep = malloc(3 << 20);
    block = malloc(3 << 20);
    CHECK(block != NULL && keep != NULL, "malloc");
    memset(block, 0x5c, 3 << 20);
    free(block);
    free(keep);
    return NULL;
}

int main(void)
{
    pthread_t t;
    printf("large_double_free_exited\n");
    fflush(stdout);
    CHECK(pthread_create(&t, NULL, worker, NULL) == 0, "pthread_create");
    pthread_join(t, NULL);
    printf("worker freed %p and exited; freeing it again\n", (void *)block);
    fflush(stdout);
    free(block); /* must abort */
    printf("FAIL: double free of %p returned\n", (void *)block);
    return 1;
}

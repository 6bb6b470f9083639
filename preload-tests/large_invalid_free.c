// expect: signal SIGABRT stderr "zslab: invalid free detected in free()"
/* large_invalid_free: freeing a pointer 4096 bytes into a large (1 MiB, a
 * page-aligned interior pointer) block (1048576 bytes) must be reported as
 * an invalid free and abort.  The block is zero-filled, so glibc (run.sh
 * none) reads a zero chunk header there and aborts too ("free(): invalid
 * pointer"); in none mode only the SIGABRT is checked.
 */
#include "common.h"

int main(void)
{
    printf("large_invalid_free\n");
    fflush(stdout);
    void *before = malloc(1048576);
    char *p = malloc(1048576);
    void *after = malloc(1048576);
    CHECK(before && p && after, "malloc(1048576)");
    memset(p, 0, 1048576);
    char *volatile inner = p + 4096;
    printf("freeing %p, 4096 bytes into the block at %p\n", (void *)inner, (void *)p);
    fflush(stdout);
    free(inner); /* must abort */
    printf("FAIL: free of an interior pointer returned\n");
    fflush(stdout);
    free(p);
    free(before);
    free(after);
    return 1;
}

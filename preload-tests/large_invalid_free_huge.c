// expect: signal SIGABRT stderr "zslab: invalid free detected in free()"
/* large_invalid_free_huge: freeing a pointer 1048576 bytes into a huge (96
 * MiB) block (100663296 bytes) must be reported as an invalid free and
 * abort.  The block is zero-filled, so glibc (run.sh none) reads a zero
 * chunk header there and aborts too ("free(): invalid pointer"); in none
 * mode only the SIGABRT is checked.
 */
#include "common.h"

int main(void)
{
    printf("large_invalid_free_huge\n");
    fflush(stdout);
    void *before = malloc(100663296);
    char *p = malloc(100663296);
    void *after = malloc(100663296);
    CHECK(before && p && after, "malloc(100663296)");
    memset(p, 0, 100663296);
    char *volatile inner = p + 1048576;
    printf("freeing %p, 1048576 bytes into the block at %p\n", (void *)inner, (void *)p);
    fflush(stdout);
    free(inner); /* must abort */
    printf("FAIL: free of an interior pointer returned\n");
    fflush(stdout);
    free(p);
    free(before);
    free(after);
    return 1;
}

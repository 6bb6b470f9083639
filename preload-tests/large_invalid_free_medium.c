// expect: signal SIGABRT stderr "zslab: invalid free detected in free()"
/* large_invalid_free_medium: freeing a pointer 16 bytes into a medium (24
 * KiB) block (24576 bytes) must be reported as an invalid free and abort.
 * The block is zero-filled, so glibc (run.sh none) reads a zero chunk header
 * there and aborts too ("free(): invalid pointer"); in none mode only the
 * SIGABRT is checked.
 */
#include "common.h"

int main(void)
{
    printf("large_invalid_free_medium\n");
    fflush(stdout);
    void *before = malloc(24576);
    char *p = malloc(24576);
    void *after = malloc(24576);
    CHECK(before && p && after, "malloc(24576)");
    memset(p, 0, 24576);
    char *volatile inner = p + 16;
    printf("freeing %p, 16 bytes into the block at %p\n", (void *)inner, (void *)p);
    fflush(stdout);
    free(inner); /* must abort */
    printf("FAIL: free of an interior pointer returned\n");
    fflush(stdout);
    free(p);
    free(before);
    free(after);
    return 1;
}

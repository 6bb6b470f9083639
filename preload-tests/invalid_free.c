// expect: signal SIGABRT stderr "zslab: invalid free"
/* invalid_free: freeing a pointer into the middle of a small malloc'd block
 * (p + 8 of a 32-byte block) must abort with a diagnostic.  glibc aborts
 * with "free(): invalid pointer" (misaligned chunk); in `none` mode only the
 * SIGABRT is checked.
 */
#include "common.h"

int main(void)
{
    void *before = malloc(32);
    char *p = malloc(32);
    void *after = malloc(32);
    CHECK(before && p && after, "malloc");
    memset(p, 0, 32);
    char *volatile inner = p + 8;
    printf("freeing %p, 8 bytes into the block at %p\n", (void *)inner, (void *)p);
    fflush(stdout);
    free(inner); /* must abort */
    printf("FAIL: free of an interior pointer returned\n");
    free(p);
    free(before);
    free(after);
    return 1;
}

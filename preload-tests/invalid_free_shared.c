// expect: signal SIGABRT stderr "zslab: invalid free"
// env: ZSLAB_SHARE_AFTER=0
/* invalid_free_shared: freeing the second half of a 64-byte block (p + 32)
 * must abort with a diagnostic.  Under zslab 64-byte blocks share spans
 * with 32-byte ones, whose blocks do start 32 bytes apart: p + 32 must
 * still be refused.  glibc aborts with "free(): invalid pointer" or
 * "invalid size"; in `none` mode only the SIGABRT is checked.
 */
#include "common.h"

int main(void)
{
    void *small[8];
    for (int i = 0; i < 8; i++)
        small[i] = malloc(24);
    char *p = malloc(64);
    CHECK(p != NULL, "malloc");
    memset(p, 0, 64);
    char *volatile inner = p + 32;
    printf("freeing %p, 32 bytes into the 64-byte block at %p\n", (void *)inner, (void *)p);
    fflush(stdout);
    free(inner); /* must abort */
    printf("FAIL: free of the second half of a block returned\n");
    for (int i = 0; i < 8; i++)
        free(small[i]);
    return 1;
}

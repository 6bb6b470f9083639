// expect: signal SIGABRT stderr "zslab: " stderr "detected in realloc()"
// expect-none: signal SIGABRT
/* large_realloc_freed_medium: realloc of a medium block (20000 bytes)
 * that was already freed must be reported ("... detected in realloc()") and
 * abort, not resize freed memory.  glibc's realloc copies the block and
 * frees it again, aborting with "double free or corruption".
 */
#include "common.h"

int main(void)
{
    printf("large_realloc_freed_medium\n");
    fflush(stdout);
    void *keep = malloc(20000);
    char *volatile p = malloc(20000);
    void *guard = malloc(20000); /* p does not border the top chunk */
    CHECK(p && keep && guard, "malloc");
    memset(p, 0x3c, 20000);
    free(p);
    printf("realloc(%p) after free\n", (void *)p);
    fflush(stdout);
    void *q = realloc(p, 40000); /* must abort */
    printf("FAIL: realloc of a freed block returned %p\n", q);
    fflush(stdout);
    free(keep);
    free(guard);
    return 1;
}

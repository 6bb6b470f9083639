// expect: signal SIGABRT stderr "zslab: " stderr "detected in realloc()"
// expect-none: signal SIGSEGV
/* large_realloc_freed: realloc of a large block (1 MiB) that was already
 * freed must be reported ("... detected in realloc()") and abort, not
 * resize freed memory.  glibc mmapped the block and unmapped it at the
 * free: its realloc faults reading the header (SIGSEGV).
 */
#include "common.h"

int main(void)
{
    printf("large_realloc_freed\n");
    fflush(stdout);
    void *keep = malloc(1 << 20);
    char *volatile p = malloc(1 << 20);
    CHECK(p && keep, "malloc");
    memset(p, 0x3c, 1 << 20);
    free(p);
    printf("realloc(%p) after free\n", (void *)p);
    fflush(stdout);
    void *q = realloc(p, 2 << 20); /* must abort */
    printf("FAIL: realloc of a freed block returned %p\n", q);
    fflush(stdout);
    free(keep);
    return 1;
}

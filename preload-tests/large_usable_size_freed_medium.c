// expect: signal SIGABRT stderr "zslab: " stderr "detected in malloc_usable_size()"
// expect-none: exit 1
/* large_usable_size_freed_medium: malloc_usable_size of a medium block
 * (20000 bytes) that was already freed must be reported ("... detected in
 * malloc_usable_size()") and abort.  glibc returns 0 for a free chunk (the
 * program then reports it and exits 1).
 */
#include "common.h"

int main(void)
{
    printf("large_usable_size_freed_medium\n");
    fflush(stdout);
    void *keep = malloc(20000);
    char *volatile p = malloc(20000);
    void *guard = malloc(20000); /* p does not border the top chunk */
    CHECK(p && keep && guard, "malloc");
    memset(p, 0x3c, 20000);
    free(p);
    printf("malloc_usable_size(%p) after free\n", (void *)p);
    fflush(stdout);
    size_t n = malloc_usable_size(p); /* must abort */
    printf("FAIL: malloc_usable_size of a freed block returned %zu\n", n);
    fflush(stdout);
    free(keep);
    free(guard);
    return 1;
}

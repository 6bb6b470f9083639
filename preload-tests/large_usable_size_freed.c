// expect: signal SIGABRT stderr "zslab: " stderr "detected in malloc_usable_size()"
// expect-none: signal SIGSEGV
/* large_usable_size_freed: malloc_usable_size of a large block (1 MiB) that
 * was already freed must be reported ("... detected in
 * malloc_usable_size()") and abort.  glibc mmapped the block and unmapped it
 * at the free: its malloc_usable_size faults reading the header (SIGSEGV).
 */
#include "common.h"

int main(void)
{
    printf("large_usable_size_freed\n");
    fflush(stdout);
    void *keep = malloc(1 << 20);
    char *volatile p = malloc(1 << 20);
    CHECK(p && keep, "malloc");
    memset(p, 0x3c, 1 << 20);
    free(p);
    printf("malloc_usable_size(%p) after free\n", (void *)p);
    fflush(stdout);
    size_t n = malloc_usable_size(p); /* must abort */
    printf("FAIL: malloc_usable_size of a freed block returned %zu\n", n);
    fflush(stdout);
    free(keep);
    return 1;
}

// expect: signal SIGABRT stderr "zslab: double free detected in free()"
// expect-none: signal SIGSEGV
/* large_double_free_huge: a huge (96 MiB) block (100663296 bytes) is freed
 * twice; the second free must be reported and abort.  Other blocks are freed
 * between the two frees (nothing is allocated there: a new block could
 * legitimately reuse the address), so the freed block is not simply the last
 * one freed. Under glibc the block was mmapped and is unmapped by the first
 * free: the second free faults reading its header.
 */
#include "common.h"

int main(void)
{
    printf("large_double_free_huge: double free of a 100663296-byte block\n");
    fflush(stdout);
    void *before = malloc(100663296);
    char *volatile p = malloc(100663296);
    void *after = malloc(100663296);
    void *o1 = malloc(100000), *o2 = malloc(20000), *o3 = malloc(64);
    CHECK(before && p && after && o1 && o2 && o3, "malloc");
    memset(p, 0xab, 100663296);
    free(p);
    free(o2);
    free(o1);
    printf("first free of %p done; freeing it again\n", (void *)p);
    fflush(stdout);
    free(p); /* must abort */
    printf("FAIL: second free of %p returned\n", (void *)p);
    fflush(stdout);
    free(o3);
    free(before);
    free(after);
    return 1;
}

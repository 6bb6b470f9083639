// expect: signal SIGABRT stderr "zslab: double free"
/* double_free: malloc(32), free, free again must abort with a diagnostic.
 * (glibc detects this via its tcache key and aborts with
 * "free(): double free detected in tcache 2"; in `none` mode only the
 * SIGABRT is checked.)
 */
#include "common.h"

int main(void)
{
    /* Some unrelated live allocations around it. */
    void *before = malloc(32);
    char *volatile p = malloc(32);
    void *after = malloc(32);
    CHECK(before && p && after, "malloc");
    memset(p, 0xab, 32);
    free(p);
    printf("first free done; freeing %p again\n", (void *)p);
    fflush(stdout);
    free(p); /* must abort */
    printf("FAIL: second free of %p returned\n", (void *)p);
    free(before);
    free(after);
    return 1;
}

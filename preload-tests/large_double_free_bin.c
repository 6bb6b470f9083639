// expect: signal SIGABRT stderr "zslab: double free detected in free()"
/* large_double_free_bin: a double free of a medium object that sits free in
 * its owner's bin (taken out of the span's bitmap with its neighbours, not
 * yet handed out again) must be reported like any other.  Before the fix
 * the second free set the object's bit in the bitmap while the bin still
 * held it, and the object was later handed out twice.
 */
#include "common.h"

int main(void)
{
    printf("large_double_free_bin\n");
    fflush(stdout);
    /* 10000-byte objects: the bin takes several at a time. */
    void *a = malloc(10000), *b = malloc(10000);
    CHECK(a && b, "malloc");
    free(a);
    free(b);
    void *keep[8];
    for (int i = 0; i < 4; i++)
        keep[i] = malloc(10000); /* empties the bin */
    void *c = malloc(10000);     /* the bin takes a, b, ... again */
    (void)c;
    (void)keep;
    /* b is free in the bin unless it was handed out again (to keep[] or
     * c): then the first free below is valid and the second is the
     * double free. */
    int live = c == b;
    for (int i = 0; i < 4; i++)
        live |= keep[i] == b;
    free(b);
    if (live)
        free(b);
    printf("FAIL: double free of %p returned\n", b);
    return 1;
}

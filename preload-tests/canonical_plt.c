// cflags: -no-pie -fno-pic
// expect: exit 0
/* canonical_plt: an executable that takes the address of malloc (as
 * Debian's python3 does) gets a canonical PLT entry: malloc becomes an
 * undefined symbol *with a value* in the executable, every object binds
 * malloc to that stub, and the stub jumps on to the real definition.
 * dlsym(RTLD_DEFAULT, "malloc") then returns the stub, in the executable.
 * zslab must not take that for another allocator and step aside (it then
 * forwarded malloc to the stub, which jumps back into zslab: an endless
 * recursion, SIGSEGV at start-up): it serves the program, and the blocks
 * allocated through the pointer are zslab's.
 */
#include "zslab_test.h"

#include <malloc.h>

/* The address of malloc, taken in non-PIC code (an absolute relocation in
 * the text: the linker must give malloc a canonical PLT entry). */
static void *(*volatile take_malloc)(size_t);
static void (*volatile take_free)(void *);

__attribute__((noinline)) static void keep(void *(*m)(size_t), void (*f)(void *))
{
    take_malloc = m;
    take_free = f;
}

int main(void)
{
    keep(malloc, free);
    zslab_api z;
    int loaded = zt_load(&z);
    struct zslab_global_stats before, after;
    if (loaded)
        zt_global(&z, &before);
    void *p[1000];
    for (int i = 0; i < 1000; i++) {
        p[i] = take_malloc(48);
        CHECK(p[i] != NULL, "malloc through the pointer");
        memset(p[i], i, 48);
        CHECK(malloc_usable_size(p[i]) >= 48, "usable size");
    }
    for (int i = 0; i < 1000; i++)
        take_free(p[i]);
    if (loaded) {
        zt_global(&z, &after);
        CHECK(after.small_allocs >= before.small_allocs + 1000,
              "zslab served %llu small blocks of the 1000 (it stepped aside?)",
              (unsigned long long)(after.small_allocs - before.small_allocs));
    }
    printf("OK canonical_plt\n");
    return 0;
}

// expect: exit 0
/* large_mallinfo: mallinfo2 and malloc_trim account for medium and large
 * blocks, whoever serves them.
 *  - With ~300 MB live in blocks of 8 KiB - 4 MiB, mallinfo2()'s in-use
 *    figures (uordblks + hblkhd) cover them, and fall back when they are
 *    freed.
 *  - After they are freed and malloc_trim(0) is called, RSS is back within
 *    10% (or 8 MiB) of what it was before they were allocated: cached
 *    pages of freed blocks go back on malloc_trim.
 * Holds under glibc too (run.sh none).
 */
#include "large_test.h"

enum { N = 400 };

int main(void)
{
    static void *p[N];
    static size_t sz[N];
    rng_t r;
    rng_seed(&r, 3);
    watchdog(60);
    printf("large_mallinfo\n");
    fflush(stdout);
    struct mallinfo2 m0 = mallinfo2();
    uint64_t rss0 = lt_rss();
    size_t total = 0;
    for (int i = 0; i < N; i++) {
        int shift = (int)rng_range(&r, 13, 21);
        sz[i] = ((size_t)1 << shift) + (size_t)rng_below(&r, (size_t)1 << shift);
        p[i] = malloc(sz[i]);
        CHECK(p[i], "malloc(%zu)", sz[i]);
        memset(p[i], 0x6b, sz[i]);
        total += sz[i];
    }
    struct mallinfo2 m1 = mallinfo2();
    uint64_t rss1 = lt_rss();
    size_t used0 = m0.uordblks + m0.hblkhd, used1 = m1.uordblks + m1.hblkhd;
    printf("%.1f MiB live in %d blocks: mallinfo2 in use %.1f -> %.1f MiB (arena %.1f, "
           "hblkhd %.1f, fordblks %.1f); RSS %.1f -> %.1f MiB\n",
           MB(total), N, MB(used0), MB(used1), MB(m1.arena), MB(m1.hblkhd), MB(m1.fordblks),
           MB(rss0), MB(rss1));
    CHECK(used1 >= used0 + total, "mallinfo2 in-use bytes grew by %zu for %zu bytes of "
          "live blocks", used1 > used0 ? used1 - used0 : 0, total);
    for (int i = 0; i < N; i++)
        free(p[i]);
    struct mallinfo2 m2 = mallinfo2();
    size_t used2 = m2.uordblks + m2.hblkhd;
    CHECK(used2 + total / 2 <= used1, "mallinfo2 in-use bytes %zu after freeing %zu bytes "
          "(%zu before)", used2, total, used1);
    int t = malloc_trim(0);
    uint64_t rss3 = lt_rss();
    printf("after free: in use %.1f MiB; malloc_trim(0) = %d; RSS %.1f MiB\n", MB(used2), t,
           MB(rss3));
    uint64_t slack = rss0 / 10 > (8u << 20) ? rss0 / 10 : (8u << 20);
    CHECK(rss3 <= rss0 + slack, "RSS %.1f MiB after free and malloc_trim(0), %.1f MiB "
          "before the blocks were allocated", MB(rss3), MB(rss0));
    ok("large_mallinfo");
    return 0;
}

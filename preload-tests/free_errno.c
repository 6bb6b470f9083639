// expect: exit 0
/* free_errno: free() preserves errno (port of glibc's tst-free-errno).
 *
 *  1. free(NULL), small, medium, large (mmap-sized), aligned, calloc'd and
 *     realloc'd blocks, with several sentinel errno values, including the
 *     ENOMEM left behind by a failed allocation;
 *  2. blocks allocated by another thread and freed by this one (remote
 *     frees), and vice versa;
 *  3. the "less common code path" of tst-free-errno: the process is driven
 *     to its vm.max_map_count limit so that any munmap() that would split a
 *     mapping (and any mmap()) inside free fails; free must still preserve
 *     errno.  While at the limit, allocations must either succeed or fail
 *     with NULL/ENOMEM, never crash.
 */
#include "common.h"

#include <pthread.h>
#include <sys/mman.h>

/* weak: stops GCC from assuming that free leaves errno unchanged. */
int __attribute__((weak, noinline)) get_errno(void)
{
    return errno;
}

static void free_check(void *p, int sentinel, const char *what, size_t size)
{
    errno = sentinel;
    free(opaque_ptr(p));
    int e = get_errno();
    CHECK(e == sentinel, "free of %s (%zu bytes) changed errno from %d to %d (%s)",
          what, size, sentinel, e, strerror(e));
}

static const size_t sizes[] = {0,      1,      8,      16,      24,      100,
                               512,    1000,   1024,   4096,    5000,    8192,
                               32768,  65536,  100000, 131072,  200000,  1 << 20,
                               5318153, 16 << 20, 64 << 20};
#define NSIZES (sizeof sizes / sizeof sizes[0])
static const int sentinels[] = {1789, EINTR, 0, ENOMEM, EINVAL, 12345};
#define NSENT (sizeof sentinels / sizeof sentinels[0])

static void phase_basic(void)
{
    errno = 1789;
    free(NULL);
    CHECK(get_errno() == 1789, "free(NULL) changed errno");

    for (size_t s = 0; s < NSENT; s++) {
        for (size_t i = 0; i < NSIZES; i++) {
            size_t n = sizes[i];
            void *p = malloc(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            memset(p, 0x11, n);
            free_check(p, sentinels[s], "malloc block", n);

            p = calloc(1, n);
            CHECK(p != NULL, "calloc(%zu)", n);
            free_check(p, sentinels[s], "calloc block", n);

            p = malloc(n / 2 + 1);
            CHECK(p != NULL, "malloc");
            p = realloc(p, n + 1);
            CHECK(p != NULL, "realloc(%zu)", n + 1);
            free_check(p, sentinels[s], "realloc'd block", n + 1);

            for (size_t a = 32; a <= 65536; a *= 8) {
                p = NULL;
                CHECK(posix_memalign(&p, a, n) == 0 && p, "posix_memalign(%zu,%zu)", a, n);
                free_check(p, sentinels[s], "posix_memalign block", n);
            }
        }
    }

    /* Many live blocks, freed in an interleaved order, so frees hit
     * partially-empty and becoming-empty pages/spans. */
    enum { N = 4000 };
    static void *ps[N];
    static size_t ns[N];
    rng_t r;
    rng_seed(&r, 99);
    for (int i = 0; i < N; i++) {
        ns[i] = rng_below(&r, 10) == 0 ? rng_range(&r, 4096, 300000) : rng_range(&r, 1, 1024);
        ps[i] = malloc(ns[i]);
        CHECK(ps[i] != NULL, "malloc(%zu)", ns[i]);
    }
    for (int pass = 0; pass < 3; pass++)
        for (int i = pass; i < N; i += 3)
            free_check(ps[i], sentinels[i % NSENT], "bulk block", ns[i]);

    /* errno == ENOMEM from a failed allocation survives a later free. */
    void *q = malloc(100);
    CHECK(q != NULL, "malloc");
    void *fail = malloc(opaque_size(SIZE_MAX));
    CHECK(fail == NULL && errno == ENOMEM, "malloc(SIZE_MAX) did not fail with ENOMEM");
    free(q);
    CHECK(get_errno() == ENOMEM, "free clobbered ENOMEM from failed malloc: errno=%d",
          get_errno());
}

/* ---- remote frees */
enum { RN = 2000 };
static void *remote_ps[RN];
static size_t remote_ns[RN];

static void *alloc_thread(void *arg)
{
    (void)arg;
    rng_t r;
    rng_seed(&r, 7);
    for (int i = 0; i < RN; i++) {
        remote_ns[i] = rng_below(&r, 20) == 0 ? rng_range(&r, 65536, 1 << 20)
                                              : rng_range(&r, 1, 2048);
        remote_ps[i] = malloc(remote_ns[i]);
        CHECK(remote_ps[i] != NULL, "malloc in thread");
    }
    return NULL;
}

static void *free_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < RN; i++)
        free_check(remote_ps[i], sentinels[i % NSENT], "block from another thread",
                   remote_ns[i]);
    return NULL;
}

static void phase_remote(void)
{
    pthread_t t;
    /* allocated by a thread (which then exits), freed by main */
    CHECK(pthread_create(&t, NULL, alloc_thread, NULL) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    for (int i = 0; i < RN; i++)
        free_check(remote_ps[i], sentinels[i % NSENT], "block from exited thread",
                   remote_ns[i]);
    /* allocated by main, freed by a thread */
    alloc_thread(NULL);
    CHECK(pthread_create(&t, NULL, free_thread, NULL) == 0, "pthread_create");
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
}

/* ---- map count exhaustion */
static void phase_map_limit(void)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    enum { MAXMAPS = 70000 };
    void **maps = malloc(MAXMAPS * sizeof(void *));
    CHECK(maps != NULL, "malloc");

    /* Blocks allocated before hitting the limit, freed at the limit. */
    enum { NB = 600 };
    static void *blocks[NB];
    static size_t bsz[NB];
    rng_t r;
    rng_seed(&r, 4242);
    for (int i = 0; i < NB; i++) {
        switch (i % 6) {
        case 0: bsz[i] = rng_range(&r, 1, 256); break;
        case 1: bsz[i] = rng_range(&r, 257, 4096); break;
        case 2: bsz[i] = rng_range(&r, 4097, 65536); break;
        case 3: bsz[i] = rng_range(&r, 65537, 1 << 20); break;
        case 4: bsz[i] = (size_t)rng_range(&r, 1, 4) << 22; break; /* 4-16 MiB */
        default: bsz[i] = rng_range(&r, 1, 64); break;
        }
        blocks[i] = malloc(bsz[i]);
        CHECK(blocks[i] != NULL, "malloc(%zu)", bsz[i]);
        memset(blocks[i], 0x77, bsz[i] < 65536 ? bsz[i] : 65536);
    }

    printf("exhausting the map count...\n");
    fflush(stdout);
    size_t nmaps = 0;
    while (nmaps < MAXMAPS) {
        int prot = (nmaps & 1) ? PROT_READ : PROT_NONE;
        void *m = mmap(NULL, page, prot, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m == MAP_FAILED)
            break;
        maps[nmaps++] = m;
    }
    int at_limit = nmaps < MAXMAPS;

    /* Free in an order that splits the allocator's larger regions. */
    for (int i = 0; i < NB; i += 2)
        free_check(blocks[i], 1789, "block at map-count limit", bsz[i]);
    for (int i = 1; i < NB; i += 2)
        free_check(blocks[i], EINTR, "block at map-count limit", bsz[i]);

    /* Allocation at the limit: success or NULL/ENOMEM, nothing else. */
    static const size_t asz[] = {16, 100, 1000, 5000, 40000, 100000, 300000, 1 << 20,
                                 5 << 20, 64 << 20};
    void *got[sizeof asz / sizeof asz[0]][8];
    int nfail = 0;
    for (size_t i = 0; i < sizeof asz / sizeof asz[0]; i++)
        for (int j = 0; j < 8; j++) {
            errno = 0;
            void *p = malloc(asz[i]);
            if (p == NULL) {
                CHECK(errno == ENOMEM, "malloc(%zu) at the map-count limit failed with "
                      "errno %d, expected ENOMEM", asz[i], errno);
                nfail++;
            } else {
                memset(p, 0x33, asz[i]);
            }
            got[i][j] = p;
        }
    for (size_t i = 0; i < sizeof asz / sizeof asz[0]; i++)
        for (int j = 0; j < 8; j++)
            if (got[i][j])
                free_check(got[i][j], 1789, "block allocated at map-count limit", asz[i]);

    for (size_t i = 0; i < nmaps; i++)
        munmap(maps[i], page);
    free(maps);
    printf("map-count limit %s after %zu extra mappings; %d allocations failed there\n",
           at_limit ? "reached" : "NOT reached", nmaps, nfail);

    /* Back to normal. */
    for (int i = 0; i < 100; i++) {
        void *p = malloc((size_t)i * 3000 + 1);
        CHECK(p != NULL, "malloc after releasing the mappings");
        free_check(p, 1789, "block after map-count phase", (size_t)i * 3000 + 1);
    }
}

int main(void)
{
    phase_basic();
    phase_remote();
    phase_map_limit();
    ok("free_errno");
    return 0;
}

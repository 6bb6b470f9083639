// expect: exit 0
/* rlimit_as: under an address-space limit (RLIMIT_AS, what `ulimit -v`
 * sets) allocation fails with NULL and ENOMEM, never with a crash.
 *
 * Part 1, in this process: zslab is already initialised (its slab region is
 * reserved) when the limit is set to the current size + 256 MiB.  Then:
 *  - 8 MiB blocks until one fails: a failure must come (the limit is far
 *    below 100 of them), as NULL with errno ENOMEM;
 *  - calloc, posix_memalign and a realloc growth chain until they fail
 *    (a failed realloc keeps its block);
 *  - small blocks (16 B..4 KiB) up to 384 MiB: they may all succeed (slabs
 *    from the region reserved before the limit) or fail with ENOMEM;
 *  - every block obtained is written end to end, everything is freed, the
 *    limit is lifted, and allocation works again.
 * Part 2: the same workload in children that start under a limit (set
 * before exec, so zslab initialises under it: its default 32 GiB
 * reservation cannot fit) of 64, 128 and 512 MiB, and 256 MiB with
 * ZSLAB_REGION=1G; each child also tries to start a thread (which may
 * itself fail for lack of stack space: EAGAIN is fine) that allocates until
 * it fails too.
 */
#include "subproc.h"

#include <pthread.h>

#define MiB_ ((size_t)1 << 20)
#define MAXB 200000

static void **blocks;
static size_t nblocks;

static void keep(void *p, size_t n)
{
    /* touch every page, and the last byte */
    for (size_t i = 0; i < n; i += 4096)
        ((volatile char *)p)[i] = (char)i;
    if (n)
        ((volatile char *)p)[n - 1] = 1;
    CHECK(nblocks < MAXB, "too many blocks");
    blocks[nblocks++] = p;
}

static void free_all(void)
{
    for (size_t i = 0; i < nblocks; i++)
        free(blocks[i]);
    nblocks = 0;
}

/* Returns the number of failures seen (each checked to be ENOMEM). */
static unsigned long workload(const char *who, int must_fail_large)
{
    unsigned long fails = 0;
    size_t got = 0;
    int i;
    /* large blocks until failure */
    for (i = 0; i < 100; i++) {
        errno = 0;
        void *p = malloc(8 * MiB_);
        if (!p) {
            CHECK(errno == ENOMEM, "%s: malloc(8 MiB) #%d: NULL with errno %d", who, i, errno);
            fails++;
            break;
        }
        keep(p, 8 * MiB_);
        got += 8 * MiB_;
    }
    if (must_fail_large)
        CHECK(i < 100, "%s: 100 blocks of 8 MiB all succeeded under the limit", who);
    printf("%s: %d blocks of 8 MiB before failure\n", who, i);
    /* calloc, posix_memalign, realloc until failure (from where we are) */
    for (i = 0; i < 200; i++) {
        errno = 0;
        void *p = calloc(MiB_ / 16, 16);
        if (!p) {
            CHECK(errno == ENOMEM, "%s: calloc: errno %d", who, errno);
            fails++;
            break;
        }
        CHECK(check_zero(p, MiB_) == (size_t)-1, "%s: calloc not zeroed", who);
        keep(p, MiB_);
    }
    for (i = 0; i < 200; i++) {
        void *p = (void *)0x1;
        int e = posix_memalign(&p, 64 << 10, 2 * MiB_);
        if (e) {
            CHECK(e == ENOMEM, "%s: posix_memalign = %d", who, e);
            CHECK(p == (void *)0x1, "%s: posix_memalign failed but set *memptr", who);
            fails++;
            break;
        }
        CHECK(is_aligned(p, 64 << 10), "%s: posix_memalign misaligned", who);
        keep(p, 2 * MiB_);
    }
    free_all();
    size_t n = 4096;
    char *p = malloc(n);
    CHECK(p != NULL, "%s: malloc(4096) after freeing everything (errno %d)", who, errno);
    memset(p, 0x5a, n);
    for (;;) {
        size_t m = n * 2;
        if (m > (size_t)4 << 30)
            break;
        errno = 0;
        char *q = realloc(p, m);
        if (!q) {
            CHECK(errno == ENOMEM, "%s: realloc(%zu -> %zu): errno %d", who, n, m, errno);
            for (size_t k = 0; k < n; k++)
                CHECK(p[k] == 0x5a, "%s: failed realloc damaged the block at %zu", who, k);
            fails++;
            break;
        }
        p = q;
        memset(p + n, 0x5a, m - n);
        n = m;
    }
    free(p);
    /* small blocks up to 384 MiB */
    rng_t r;
    rng_seed(&r, 5);
    size_t total = 0;
    while (total < 384 * MiB_ && nblocks < MAXB) {
        size_t k = (size_t)rng_range(&r, 16, 4096);
        errno = 0;
        void *b = malloc(k);
        if (!b) {
            CHECK(errno == ENOMEM, "%s: malloc(%zu): NULL with errno %d", who, k, errno);
            fails++;
            break;
        }
        keep(b, k);
        total += k;
    }
    printf("%s: %zu MiB of small blocks\n", who, total >> 20);
    free_all();
    void *again = malloc(100);
    CHECK(again != NULL, "%s: malloc(100) after freeing everything", who);
    free(again);
    return fails;
}

static void *thread_main(void *arg)
{
    (void)arg;
    size_t n = 0;
    for (;;) {
        errno = 0;
        void *p = malloc(MiB_);
        if (!p) {
            CHECK(errno == ENOMEM, "thread: malloc(1 MiB): errno %d", errno);
            break;
        }
        memset(p, 1, MiB_);
        blocks[nblocks++] = p;
        if (++n == 1000)
            break;
    }
    printf("thread: %zu MiB before failure\n", n);
    free_all();
    return NULL;
}

static uint64_t vm_size(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    CHECK(f != NULL, "open statm");
    unsigned long long pages = 0;
    CHECK(fscanf(f, "%llu", &pages) == 1, "statm");
    fclose(f);
    return pages * 4096;
}

static int child(void)
{
    blocks = malloc(MAXB * sizeof *blocks);
    CHECK(blocks != NULL, "malloc of the block table failed under the limit");
    unsigned long f = workload("child", 1);
    pthread_t th;
    int e = pthread_create(&th, NULL, thread_main, NULL);
    if (e == 0)
        CHECK(pthread_join(th, NULL) == 0, "pthread_join");
    else
        CHECK(e == EAGAIN || e == ENOMEM, "pthread_create: %s", strerror(e));
    printf("failures=%lu thread=%s\n", f, e == 0 ? "ran" : "could not start");
    free(blocks);
    printf("CHILD-OK\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child();
    watchdog(110);
    blocks = malloc(MAXB * sizeof *blocks);
    CHECK(blocks != NULL, "malloc");

    /* Part 1 */
    struct rlimit old, rl;
    CHECK(getrlimit(RLIMIT_AS, &old) == 0, "getrlimit");
    uint64_t vs = vm_size();
    rl = old;
    rl.rlim_cur = vs + 256 * MiB_;
    CHECK(setrlimit(RLIMIT_AS, &rl) == 0, "setrlimit: %s", strerror(errno));
    printf("part 1: address space %llu MiB, limit %llu MiB\n", (unsigned long long)(vs >> 20),
           (unsigned long long)(rl.rlim_cur >> 20));
    unsigned long f = workload("in-process", 1);
    CHECK(setrlimit(RLIMIT_AS, &old) == 0, "restore the limit: %s", strerror(errno));
    void *p = malloc(64 * MiB_);
    CHECK(p != NULL, "malloc(64 MiB) after lifting the limit");
    memset(p, 1, 64 * MiB_);
    free(p);
    printf("part 1: %lu failures, all ENOMEM\n", f);
    free(blocks);

    /* Part 2 */
    static struct child_result r;
    static const struct {
        unsigned mib;
        const char *region;
    } runs[] = {{64, NULL}, {128, NULL}, {512, NULL}, {256, "1G"}};
    const char *args[] = {"--child", NULL};
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char what[96], reg[64];
        snprintf(reg, sizeof reg, "ZSLAB_REGION=%s", runs[i].region ? runs[i].region : "");
        snprintf(what, sizeof what, "child under a %u MiB limit%s%s", runs[i].mib,
                 runs[i].region ? ", " : "", runs[i].region ? reg : "");
        const char *env[] = {reg, NULL};
        child_expect_ok(what, args, env, (unsigned long long)runs[i].mib * MiB_, &r);
        uint64_t fails = 0;
        child_value(&r, "failures", &fails);
        printf("%s: ok, %llu failures (all ENOMEM)\n", what, (unsigned long long)fails);
    }
    ok("rlimit_as");
    return 0;
}

// expect: exit 0
/* fail_madvise: zslab's madvise calls fail (ZSLAB_FAIL_MADVISE=N: the N-th
 * call and every later one); each failure is counted and harmless.
 *
 * The test re-runs itself as a child: once without injection (the control:
 * under zslab its workload must make zslab call madvise, or the rest would
 * prove nothing), then with N = 1, 2, 5, and half the control's call count,
 * and with N = 1 under ZSLAB_RECLAIM=free.  Each child, three rounds of:
 *  - a long-lived generation: ~5k blocks of 16 B..4 KiB kept to the end;
 *  - a short-lived generation in a new epoch: ~24 MiB of small blocks filled
 *    with a non-zero pattern, then freed (half of them by another thread),
 *    so whole slabs empty and go back to the OS (madvise); then
 *    slab_epoch_close of that epoch, slab_reclaim and malloc_trim(0) return
 *    the cached ones too;
 *  - calloc of the same sizes must give zeroed memory: with madvise failing,
 *    the slabs it reuses still hold the old non-zero bytes;
 *  - malloc of the same sizes, filled and checked;
 * and the long-lived blocks keep their contents throughout.
 * Under zslab the child reports madvise_calls and madvise_failures from
 * slab_stats_json(); with N = 1 and N = 2 madvise_failures must be > 0.
 */
#include "subproc.h"

#include <dlfcn.h>
#include <pthread.h>

#define MiB_ ((size_t)1 << 20)

struct blk {
    void *p;
    size_t n;
    uint64_t seed;
};

static struct blk longlived[8192];
static size_t nlong;
static struct blk *gen;
static size_t ngen;

static unsigned (*p_advance)(void);
static int (*p_close)(unsigned);
static size_t (*p_reclaim)(void);

static void lookup(void)
{
    void *s;
    if ((s = dlsym(RTLD_DEFAULT, "slab_epoch_advance")))
        __builtin_memcpy(&p_advance, &s, sizeof s);
    if ((s = dlsym(RTLD_DEFAULT, "slab_epoch_close")))
        __builtin_memcpy(&p_close, &s, sizeof s);
    if ((s = dlsym(RTLD_DEFAULT, "slab_reclaim")))
        __builtin_memcpy(&p_reclaim, &s, sizeof s);
}

static size_t size_of(rng_t *r)
{
    return (size_t)(rng_below(r, 4) ? rng_range(r, 16, 512) : rng_range(r, 513, 4096));
}

static void *free_half(void *arg)
{
    (void)arg;
    for (size_t i = 0; i < ngen; i += 2) {
        CHECK_PATTERN(gen[i].p, gen[i].n, gen[i].seed, "short-lived block (remote free)");
        free(gen[i].p);
    }
    return NULL;
}

static void check_longlived(const char *when)
{
    for (size_t i = 0; i < nlong; i++)
        CHECK_PATTERN(longlived[i].p, longlived[i].n, longlived[i].seed,
                      "long-lived block %zu (%s)", i, when);
}

static int child(void)
{
    lookup();
    rng_t r;
    rng_seed(&r, 4242);
    gen = calloc(200000, sizeof *gen);
    CHECK(gen != NULL, "calloc");
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1700; i++) {
            struct blk *b = &longlived[nlong++];
            b->n = size_of(&r);
            b->p = malloc(b->n);
            CHECK(b->p != NULL, "malloc(%zu)", b->n);
            b->seed = rng_next(&r);
            fill_pattern(b->p, b->n, b->seed);
        }
        unsigned epoch = p_advance ? p_advance() : 0;
        /* short-lived generation */
        size_t total = 0;
        ngen = 0;
        while (total < 24 * MiB_ && ngen < 200000) {
            struct blk *b = &gen[ngen++];
            b->n = size_of(&r);
            b->p = malloc(b->n);
            CHECK(b->p != NULL, "malloc(%zu)", b->n);
            b->seed = rng_next(&r);
            fill_pattern(b->p, b->n, b->seed);
            total += b->n;
        }
        pthread_t th;
        CHECK(pthread_create(&th, NULL, free_half, NULL) == 0, "pthread_create");
        for (size_t i = 1; i < ngen; i += 2) {
            CHECK_PATTERN(gen[i].p, gen[i].n, gen[i].seed, "short-lived block");
            free(gen[i].p);
        }
        CHECK(pthread_join(th, NULL) == 0, "pthread_join");
        if (p_advance)
            p_advance();
        if (p_close)
            CHECK(p_close(epoch) == 0, "slab_epoch_close(%u)", epoch);
        if (p_reclaim)
            (void)p_reclaim();
        malloc_trim(0);
        check_longlived("after the short-lived generation was freed");

        /* calloc over the same sizes: zeroed even on pages madvise could
         * not return */
        rng_t r2 = r;
        for (size_t i = 0; i < ngen; i++) {
            size_t n = gen[i].n;
            void *p = calloc(1, n);
            CHECK(p != NULL, "calloc(1, %zu)", n);
            size_t bad = check_zero(p, n);
            CHECK(bad == (size_t)-1,
                  "round %d: calloc(1, %zu) = %p is not zeroed at offset %zu (a slab "
                  "whose pages madvise did not return still holds old data)",
                  round, n, p, bad);
            gen[i].p = p;
            gen[i].seed = rng_next(&r2);
            fill_pattern(p, n, gen[i].seed);
        }
        for (size_t i = 0; i < ngen; i++) {
            CHECK_PATTERN(gen[i].p, gen[i].n, gen[i].seed, "calloc'd block");
            free(gen[i].p);
        }
        if (p_reclaim)
            (void)p_reclaim();
        check_longlived("after the calloc generation");
    }
    for (size_t i = 0; i < nlong; i++)
        free(longlived[i].p);
    free(gen);
    /* still working */
    void *p = malloc(1000);
    CHECK(p != NULL, "malloc after everything");
    free(p);

    uint64_t calls = 0, fails = 0;
    int zs = zs_stat_req("madvise_calls", &calls);
    if (zs)
        zs_stat_req("madvise_failures", &fails);
    printf("zslab=%d madvise_calls=%llu madvise_failures=%llu\n", zs,
           (unsigned long long)calls, (unsigned long long)fails);
    printf("CHILD-OK\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child();
    watchdog(110);
    static struct child_result r;
    const char *args[] = {"--child", NULL};
    int zslab = !mode_is_glibc() && zs_json_fn() != NULL;

    const char *env0[] = {"ZSLAB_FAIL_MADVISE=", NULL};
    child_expect_ok("control child (no injection)", args, env0, 0, &r);
    uint64_t calls = 0, fails = 0;
    child_value(&r, "madvise_calls", &calls);
    child_value(&r, "madvise_failures", &fails);
    printf("control: madvise_calls=%llu madvise_failures=%llu\n", (unsigned long long)calls,
           (unsigned long long)fails);
    if (zslab) {
        CHECK(calls >= 4, "the control child made only %llu madvise calls: the workload no "
              "longer exercises zslab's page release", (unsigned long long)calls);
        CHECK(fails == 0, "the control child counted %llu madvise failures",
              (unsigned long long)fails);
    }

    char half[32];
    snprintf(half, sizeof half, "%llu", (unsigned long long)(calls / 2 > 5 ? calls / 2 : 3));
    const struct {
        const char *n, *reclaim;
        int must_fail;
    } runs[] = {
        {"1", NULL, 1}, {"2", NULL, 1}, {"5", NULL, 0}, {half, NULL, 0}, {"1", "free", 1},
    };
    int not_honoured = 0;
    for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
        char var[64], rec[64], what[160];
        snprintf(var, sizeof var, "ZSLAB_FAIL_MADVISE=%s", runs[i].n);
        snprintf(rec, sizeof rec, "ZSLAB_RECLAIM=%s", runs[i].reclaim ? runs[i].reclaim : "");
        snprintf(what, sizeof what, "child with %s%s%s", var, runs[i].reclaim ? " " : "",
                 runs[i].reclaim ? rec : "");
        const char *env[] = {var, rec, NULL};
        child_expect_ok(what, args, env, 0, &r);
        calls = fails = 0;
        child_value(&r, "madvise_calls", &calls);
        child_value(&r, "madvise_failures", &fails);
        printf("%s: madvise_calls=%llu madvise_failures=%llu\n", what,
               (unsigned long long)calls, (unsigned long long)fails);
        if (zslab && runs[i].must_fail && fails == 0) {
            fprintf(stderr,
                    "FAIL: %s: no madvise failure was counted (madvise_calls=%llu): "
                    "ZSLAB_FAIL_MADVISE is not honoured, or failures are not counted\n",
                    what, (unsigned long long)calls);
            not_honoured++;
        }
    }
    if (not_honoured)
        return 1;
    ok("fail_madvise");
    return 0;
}

// expect: exit 0
/* mr_idle_owner: memory freed by another thread comes back while the
 * thread that allocated it stays idle.
 *
 * Thread A allocates ~200 MB of small objects (16 B - 1 KiB, every byte
 * written), hands them all to thread B and blocks on a condition variable.
 * B frees every one of them and then blocks too.  The main thread only
 * watches RSS (/proc/self/statm, no allocation) every 10 ms: within 1 s of
 * B's last free, RSS must have dropped by at least 85% of what A's
 * allocations added, while A (and B) stay blocked: no allocation, no thread
 * exit, no call into the allocator from the owner helps.  Then A and B are
 * released and joined.
 *
 * The same is done with medium and large blocks (8 KiB - 1 MiB).
 *
 * Under plain glibc (run.sh none) the workload runs and the figures are
 * printed; the RSS check is zslab's.
 */
#include "large_test.h"

#include <pthread.h>

#define DEADLINE_MS 1000
#define MIN_RETURNED 0.85

enum { MAX_OBJS = 1 << 20 };

static void **objs;
static size_t nobjs, total_bytes;
static int large_mode;

static pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cv = PTHREAD_COND_INITIALIZER;
static int stage;        /* 1: A allocated, 2: B freed, 3: release */
static int a_blocked, b_blocked;

static void wait_stage(int s)
{
    while (stage < s)
        pthread_cond_wait(&cv, &m);
}

static void *thread_a(void *arg)
{
    (void)arg;
    rng_t r;
    rng_seed(&r, large_mode ? 12 : 11);
    size_t bytes = 0, n = 0;
    while (bytes < (200u << 20)) {
        size_t sz;
        if (large_mode) {
            int shift = (int)rng_range(&r, 13, 19);
            sz = ((size_t)1 << shift) + (size_t)rng_below(&r, (size_t)1 << shift);
        } else {
            sz = (size_t)rng_range(&r, 16, 1024);
        }
        void *p = malloc(sz);
        CHECK(p, "malloc(%zu)", sz);
        memset(p, (int)(n & 0xff), sz);
        CHECK(n < MAX_OBJS, "too many objects");
        objs[n++] = p;
        bytes += sz;
    }
    pthread_mutex_lock(&m);
    nobjs = n;
    total_bytes = bytes;
    stage = 1;
    a_blocked = 1;
    pthread_cond_broadcast(&cv);
    wait_stage(3); /* idle until the main thread has measured */
    a_blocked = 0;
    pthread_mutex_unlock(&m);
    return NULL;
}

static void *thread_b(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&m);
    wait_stage(1);
    pthread_mutex_unlock(&m);
    for (size_t i = 0; i < nobjs; i++) {
        const unsigned char *c = objs[i];
        CHECK(c[0] == (unsigned char)(i & 0xff), "object %zu corrupted", i);
        free(objs[i]);
    }
    pthread_mutex_lock(&m);
    stage = 2;
    b_blocked = 1;
    pthread_cond_broadcast(&cv);
    wait_stage(3);
    b_blocked = 0;
    pthread_mutex_unlock(&m);
    return NULL;
}

static int run(int large)
{
    large_mode = large;
    stage = 0;
    const char *what = large ? "medium/large blocks" : "small objects";
    uint64_t before = lt_rss();
    pthread_t a, b;
    CHECK(pthread_create(&a, NULL, thread_a, NULL) == 0, "pthread_create");
    CHECK(pthread_create(&b, NULL, thread_b, NULL) == 0, "pthread_create");
    pthread_mutex_lock(&m);
    wait_stage(1);
    pthread_mutex_unlock(&m);
    uint64_t peak = lt_rss();
    pthread_mutex_lock(&m);
    wait_stage(2);
    pthread_mutex_unlock(&m);
    double t0 = lt_now();
    uint64_t added = peak > before ? peak - before : 0;
    uint64_t rss = lt_rss(), at0 = rss;
    double met_at = -1;
    while (lt_now() - t0 < DEADLINE_MS / 1000.0) {
        rss = lt_rss();
        if (met_at < 0 && peak - (rss < peak ? rss : peak) >= (uint64_t)(added * MIN_RETURNED))
            met_at = lt_now() - t0;
        if (met_at >= 0)
            break;
        lt_sleep_ms(10);
    }
    pthread_mutex_lock(&m);
    int still_blocked = a_blocked && b_blocked;
    pthread_mutex_unlock(&m);
    uint64_t dropped = peak > rss ? peak - rss : 0;
    printf("%s: A allocated %.1f MiB in %zu; RSS before %.1f MiB, peak %.1f MiB, right "
           "after B's frees %.1f MiB, then %.1f MiB: %.1f%% of what A added returned",
           what, MB(total_bytes), nobjs, MB(before), MB(peak), MB(at0), MB(rss),
           added ? 100.0 * (double)dropped / (double)added : 0.0);
    if (met_at >= 0)
        printf(" after %.0f ms\n", met_at * 1000);
    else
        printf(" (below %.0f%% after %d ms)\n", 100 * MIN_RETURNED, DEADLINE_MS);
    fflush(stdout);
    CHECK(still_blocked, "A or B was not blocked while RSS was measured");
    pthread_mutex_lock(&m);
    stage = 3;
    pthread_cond_broadcast(&cv);
    pthread_mutex_unlock(&m);
    pthread_join(a, NULL);
    pthread_join(b, NULL);
    /* (glibc reuses the first run's memory for the second) */
    if (!mode_is_glibc())
        CHECK(added > (150u << 20), "A's allocations added only %.1f MiB to RSS",
              MB(added));
    return met_at >= 0;
}

int main(void)
{
    watchdog(100);
    objs = malloc(sizeof *objs * MAX_OBJS);
    CHECK(objs, "malloc");
    memset(objs, 0, sizeof *objs * MAX_OBJS);
    printf("mr_idle_owner\n");
    fflush(stdout);
    int ok_small = run(0);
    int ok_large = run(1);
    if (mode_is_glibc()) {
        printf("glibc mode: RSS checks skipped\n");
    } else {
        CHECK(ok_small, "small objects freed by another thread did not leave RSS within "
              "%d ms while their owner was idle", DEADLINE_MS);
        CHECK(ok_large, "medium/large blocks freed by another thread did not leave RSS "
              "within %d ms while their owner was idle", DEADLINE_MS);
    }
    ok("mr_idle_owner");
    return 0;
}

// expect: exit 0
/* large_threads: medium and large blocks freed by other threads and by
 * threads that exited.
 *
 * Part A (hand-off): two producer threads allocate blocks of 8 KiB - 4 MiB,
 * fill them with a pattern and pass them through a bounded queue to two
 * consumer threads, which verify them and either free them, or realloc
 * them (grow or shrink a block another thread allocated) and free the
 * result.  The live set stays bounded, so the memory must be reused: RSS
 * at the end stays far below the total allocated.
 *
 * Part B (exited owners): 300 short-lived threads each allocate 8 blocks
 * of 8 KiB - 2 MiB, fill them and exit; the main thread verifies and frees
 * them after the join.  Blocks allocated by the main thread are freed by
 * short-lived threads that exit right after the free.  Over ~1 GiB is
 * allocated in total; RSS must stay well below it (memory freed after or by
 * an exited thread is reused or returned).
 *
 * Part C: while the blocks of part B's exited threads are live, glibc's own
 * allocator holds none of them (they came from zslab).
 */
#include "large_test.h"

#include <pthread.h>

static size_t rand_size(rng_t *r, size_t hi)
{
    /* log-uniform in [8 KiB + 1, hi] */
    int top = 63 - __builtin_clzll(hi);
    int shift = (int)rng_range(r, 13, (uint64_t)top);
    size_t lo = (size_t)1 << shift, span = lo;
    size_t n = lo + (size_t)rng_below(r, span);
    if (n > hi)
        n = hi;
    return n < 8193 ? 8193 : n;
}

/* ----------------------------------------------------------- Part A */

struct item {
    void *p;
    size_t n;
    uint64_t seed;
};

#define QCAP 64
static struct item queue[QCAP];
static unsigned qhead, qtail, qcount;
static int producers_left;
static pthread_mutex_t qlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t qnotfull = PTHREAD_COND_INITIALIZER, qnotempty = PTHREAD_COND_INITIALIZER;
static size_t total_bytes_a;

enum { PER_PRODUCER = 1500 };

static void *producer(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(uintptr_t)arg);
    size_t bytes = 0;
    for (int i = 0; i < PER_PRODUCER; i++) {
        struct item it;
        it.n = rand_size(&r, 4 * MiBz);
        it.p = malloc(it.n);
        CHECK(it.p != NULL, "producer: malloc(%zu)", it.n);
        it.seed = mix64(((uint64_t)(uintptr_t)arg << 32) | (uint64_t)i);
        fill_pattern(it.p, it.n, it.seed);
        bytes += it.n;
        pthread_mutex_lock(&qlock);
        while (qcount == QCAP)
            pthread_cond_wait(&qnotfull, &qlock);
        queue[qtail] = it;
        qtail = (qtail + 1) % QCAP;
        qcount++;
        pthread_cond_signal(&qnotempty);
        pthread_mutex_unlock(&qlock);
    }
    pthread_mutex_lock(&qlock);
    producers_left--;
    total_bytes_a += bytes;
    pthread_cond_broadcast(&qnotempty);
    pthread_mutex_unlock(&qlock);
    return NULL;
}

static void *consumer(void *arg)
{
    rng_t r;
    rng_seed(&r, 1000 + (uint64_t)(uintptr_t)arg);
    for (;;) {
        pthread_mutex_lock(&qlock);
        while (qcount == 0 && producers_left > 0)
            pthread_cond_wait(&qnotempty, &qlock);
        if (qcount == 0) {
            pthread_mutex_unlock(&qlock);
            return NULL;
        }
        struct item it = queue[qhead];
        qhead = (qhead + 1) % QCAP;
        qcount--;
        pthread_cond_signal(&qnotfull);
        pthread_mutex_unlock(&qlock);

        CHECK(malloc_usable_size(it.p) >= it.n, "consumer: usable size of a remote "
              "block %zu < %zu", malloc_usable_size(it.p), it.n);
        CHECK_PATTERN(it.p, it.n, it.seed, "consumer: block handed over by a producer");
        switch (rng_below(&r, 4)) {
        case 0: { /* grow the remote block */
            size_t m = it.n + it.n / 2 + 1;
            char *q = realloc(it.p, m);
            CHECK(q != NULL, "realloc(%zu -> %zu)", it.n, m);
            CHECK_PATTERN(q, it.n, it.seed, "realloc of a remote block lost data");
            memset(q + it.n, 0x11, m - it.n);
            free(q);
            break;
        }
        case 1: { /* shrink it */
            size_t m = it.n / 3 + 1;
            char *q = realloc(it.p, m);
            CHECK(q != NULL, "realloc(%zu -> %zu)", it.n, m);
            CHECK_PATTERN(q, m, it.seed, "shrinking realloc of a remote block lost data");
            free(q);
            break;
        }
        default:
            free(it.p);
        }
        /* The consumer allocates too (reusing what it freed). */
        if (rng_below(&r, 4) == 0) {
            size_t m = rand_size(&r, MiBz);
            char *q = malloc(m);
            CHECK(q != NULL, "consumer malloc(%zu)", m);
            memset(q, 0x22, m);
            free(q);
        }
    }
}

static void part_a(void)
{
    pthread_t prod[2], cons[2];
    producers_left = 2;
    double t0 = lt_now();
    for (long i = 0; i < 2; i++) {
        CHECK(pthread_create(&prod[i], NULL, producer, (void *)(i + 1)) == 0, "pthread_create");
        CHECK(pthread_create(&cons[i], NULL, consumer, (void *)(i + 1)) == 0, "pthread_create");
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(prod[i], NULL);
        pthread_join(cons[i], NULL);
    }
    uint64_t rss = lt_rss();
    printf("part A: %.0f MiB handed between threads in %.2fs; RSS after: %.1f MiB\n",
           MB(total_bytes_a), lt_now() - t0, MB(rss));
    fflush(stdout);
    CHECK(total_bytes_a > (size_t)1 << 30, "part A allocated only %.0f MiB", MB(total_bytes_a));
    /* The live set is at most ~(QCAP + 4) blocks of <= 4 MiB. */
    CHECK(rss < total_bytes_a / 4, "RSS %.1f MiB after %.0f MiB of hand-offs: memory freed "
          "by other threads is not reused", MB(rss), MB(total_bytes_a));
}

/* ----------------------------------------------------------- Part B */

enum { NTHREADS = 300, PER_THREAD = 8 };

struct tjob {
    int idx;
    struct item items[PER_THREAD];
    void *to_free; /* a block of the main thread to free, then exit */
};

static void *short_lived(void *arg)
{
    struct tjob *j = arg;
    rng_t r;
    rng_seed(&r, 5000 + (uint64_t)j->idx);
    for (int i = 0; i < PER_THREAD; i++) {
        struct item *it = &j->items[i];
        it->n = rand_size(&r, 2 * MiBz);
        it->p = malloc(it->n);
        CHECK(it->p != NULL, "thread %d: malloc(%zu)", j->idx, it->n);
        it->seed = mix64((uint64_t)j->idx * 100 + (uint64_t)i);
        fill_pattern(it->p, it->n, it->seed);
        /* Some churn of its own before it exits. */
        void *tmp = malloc(it->n / 2 + 8192);
        CHECK(tmp != NULL, "malloc");
        memset(tmp, 0x44, it->n / 2 + 8192);
        free(tmp);
    }
    free(j->to_free);
    return NULL;
}

static void part_b(void)
{
    static struct tjob jobs[NTHREADS];
    size_t total = 0;
    uint64_t rss_max = 0;
    double t0 = lt_now();
    int origin_checked = 0;
    for (int base = 0; base < NTHREADS; base += 10) {
        pthread_t t[10];
        for (int k = 0; k < 10; k++) {
            struct tjob *j = &jobs[base + k];
            j->idx = base + k;
            size_t n = 8192 + 1 + (size_t)(base + k) * 4099 % (3 * MiBz);
            j->to_free = malloc(n);
            CHECK(j->to_free != NULL, "malloc(%zu)", n);
            memset(j->to_free, 0x55, n);
            total += n;
        }
        for (int k = 0; k < 10; k++)
            CHECK(pthread_create(&t[k], NULL, short_lived, &jobs[base + k]) == 0,
                  "pthread_create");
        for (int k = 0; k < 10; k++)
            pthread_join(t[k], NULL);
        /* Part C: the exited threads' blocks are live and not glibc's. */
        if (!origin_checked && lt_check_origin()) {
            size_t live = 0;
            for (int k = 0; k < 10; k++)
                for (int i = 0; i < PER_THREAD; i++)
                    live += jobs[base + k].items[i].n;
            size_t g = lt_glibc_bytes();
            CHECK(g < live / 2, "%zu bytes live in blocks of exited threads, glibc's "
                  "allocator holds %zu bytes: they were not served by zslab", live, g);
            origin_checked = 1;
        }
        for (int k = 0; k < 10; k++) {
            struct tjob *j = &jobs[base + k];
            for (int i = 0; i < PER_THREAD; i++) {
                struct item *it = &j->items[i];
                CHECK(malloc_usable_size(it->p) >= it->n, "usable size of an exited "
                      "thread's block");
                CHECK_PATTERN(it->p, it->n, it->seed, "block of exited thread %d", j->idx);
                total += it->n;
                if (i % 2)
                    free(it->p);
                else {
                    /* realloc a block whose owner has exited */
                    char *q = realloc(it->p, it->n * 2);
                    CHECK(q != NULL, "realloc of an exited thread's block");
                    CHECK_PATTERN(q, it->n, it->seed, "realloc of exited thread %d's block",
                                  j->idx);
                    free(q);
                }
            }
        }
        uint64_t rss = lt_rss();
        if (rss > rss_max)
            rss_max = rss;
    }
    printf("part B: %d threads, %.0f MiB allocated in %.2fs; max RSS between rounds "
           "%.1f MiB\n", NTHREADS, MB(total), lt_now() - t0, MB(rss_max));
    fflush(stdout);
    CHECK(rss_max < total / 4, "RSS reached %.1f MiB for %.0f MiB allocated by threads "
          "that exited: their memory is not reused", MB(rss_max), MB(total));
}

int main(void)
{
    watchdog(110);
    lt_glibc_bytes();
    part_a();
    part_b();
    ok("large_threads");
    return 0;
}

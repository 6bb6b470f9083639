/* churn_rss — "epoch churn": does RSS stay flat when batches come and go
 * around a few long-lived objects?
 *
 * usage: churn_rss [cycles=2000] [batch=20000] [pinned_pre=2000] [sample_every=100]
 *
 * 1. Before the cycles, allocate `pinned_pre` long-lived objects (32..512 B),
 *    kept until the end.
 * 2. Each cycle allocates a batch of `batch` objects of 32..512 B (uniform),
 *    then frees the batch in random order.  In cycle 0 every 5th object of
 *    the batch is kept forever instead (20% pinned), so long-lived objects
 *    are interleaved in time — and, for allocators that do not group blocks
 *    by allocation time, in address space — with short-lived ones.  That
 *    leaves partially used slabs/pages behind that can never be released.
 * 3. After the free phase of cycle 0 and every `sample_every` cycles (and
 *    after the last cycle) RSS is sampled from /proc/self/statm.
 *
 * If the process exports `unsigned slab_epoch_advance(void)` (zslab does,
 * found with dlsym(RTLD_DEFAULT, ...)), it is called at the start of every
 * cycle so each cycle's batch lands in a fresh epoch.  Without it the
 * workload runs unchanged.
 *
 * Prints: epoch_api (0/1), cycles, batch, pinned_objects, rss_samples,
 * rss_first_kb, rss_last_kb, rss_min_kb, rss_max_kb, rss_drift_kb
 * (last - first), rss_warm_kb and rss_drift_after_warmup_kb (from the first
 * sample after 10% of the cycles to the last), under zslab also
 * committed_warm_kb / committed_last_kb / committed_drift_after_warmup_kb
 * (zslab's committed slab bytes from slab_stats_global), elapsed_s,
 * ops_per_sec (malloc+free pairs per second).
 * Peak RSS is measured from outside by the harness.
 */
#include "bench_common.h"

#include <dlfcn.h>

typedef unsigned (*epoch_advance_fn)(void);
/* zslab's slab_stats_global(): only the fields up to committed_bytes are
 * read (version, size, then 7 u64 counters, then committed_bytes). */
struct zslab_global_prefix {
    unsigned version, size;
    unsigned long small_allocs, small_frees, live_objects, live_bytes, large_allocs, large_frees;
    unsigned long committed_bytes;
};
typedef int (*stats_global_fn)(struct zslab_global_prefix *, size_t);

static long committed_kb(stats_global_fn f)
{
    struct zslab_global_prefix g;
    if (!f || f(&g, sizeof g) != 0)
        return -1;
    return (long)(g.committed_bytes / 1024);
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (!f)
        return -1;
    long size = 0, resident = 0;
    int n = fscanf(f, "%ld %ld", &size, &resident);
    fclose(f);
    if (n != 2)
        return -1;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv)
{
    unsigned long cycles = arg_ul(argc, argv, 1, 2000);
    unsigned long batch = arg_ul(argc, argv, 2, 20000);
    unsigned long pinned_pre = arg_ul(argc, argv, 3, 2000);
    unsigned long sample_every = arg_ul(argc, argv, 4, 100);

    epoch_advance_fn epoch_advance = (epoch_advance_fn)dlsym(RTLD_DEFAULT, "slab_epoch_advance");
    stats_global_fn stats_global = (stats_global_fn)dlsym(RTLD_DEFAULT, "slab_stats_global");
    /* Warm-up: the first 10% of the cycles (caches fill, heaps settle). */
    unsigned long warm = cycles / 10;
    long warm_rss = -1, warm_committed = -1, last_committed = -1;

    bench_rng r;
    rng_seed(&r, 4242);

    unsigned long pinned_cap = pinned_pre + batch / 5 + 1, npinned = 0;
    void **pinned = xmalloc(pinned_cap * sizeof *pinned);
    size_t *pinned_sz = xmalloc(pinned_cap * sizeof *pinned_sz);
    void **ptr = xmalloc(batch * sizeof *ptr);
    size_t *sz = xmalloc(batch * sizeof *sz);
    unsigned long *order = xmalloc(batch * sizeof *order);

    for (unsigned long i = 0; i < pinned_pre; i++) {
        size_t s = rng_range(&r, 32, 512);
        void *p = xmalloc(s);
        tag_block(p, s);
        pinned[npinned] = p;
        pinned_sz[npinned++] = s;
    }

    long first = -1, last = -1, mn = -1, mx = -1;
    unsigned long samples = 0;
    unsigned last_epoch = 0;
    double ops = 0;
    double t0 = bench_now();
    for (unsigned long c = 0; c < cycles; c++) {
        if (epoch_advance)
            last_epoch = epoch_advance();
        unsigned long live = 0;
        for (unsigned long i = 0; i < batch; i++) {
            size_t s = rng_range(&r, 32, 512);
            void *p = xmalloc(s);
            tag_block(p, s);
            if (c == 0 && i % 5 == 0) {
                pinned[npinned] = p;
                pinned_sz[npinned++] = s;
            } else {
                ptr[live] = p;
                sz[live] = s;
                order[live] = live;
                live++;
            }
        }
        /* free the batch in random order (Fisher-Yates over the indices) */
        for (unsigned long i = live; i > 1; i--) {
            unsigned long j = (unsigned long)(rng_next(&r) % i);
            unsigned long t = order[i - 1];
            order[i - 1] = order[j];
            order[j] = t;
        }
        for (unsigned long i = 0; i < live; i++) {
            unsigned long k = order[i];
            check_block(ptr[k], sz[k]);
            free(ptr[k]);
        }
        ops += (double)batch;
        if (c % sample_every == 0 || c + 1 == cycles) {
            long kb = rss_kb();
            if (first < 0)
                first = kb;
            last = kb;
            if (mn < 0 || kb < mn)
                mn = kb;
            if (kb > mx)
                mx = kb;
            samples++;
            if (c >= warm && warm_rss < 0) {
                warm_rss = kb;
                warm_committed = committed_kb(stats_global);
            }
            last_committed = committed_kb(stats_global);
        }
    }
    double el = bench_now() - t0;

    printf("epoch_api=%d\n", epoch_advance ? 1 : 0);
    if (epoch_advance)
        printf("last_epoch=%u\n", last_epoch);
    printf("cycles=%lu\nbatch=%lu\npinned_objects=%lu\nrss_samples=%lu\n", cycles, batch, npinned,
           samples);
    printf("rss_first_kb=%ld\nrss_last_kb=%ld\nrss_min_kb=%ld\nrss_max_kb=%ld\nrss_drift_kb=%ld\n",
           first, last, mn, mx, last - first);
    printf("rss_warm_kb=%ld\nrss_drift_after_warmup_kb=%ld\n", warm_rss, last - warm_rss);
    if (stats_global)
        printf("committed_warm_kb=%ld\ncommitted_last_kb=%ld\ncommitted_drift_after_warmup_kb=%ld\n",
               warm_committed, last_committed, last_committed - warm_committed);
    printf("elapsed_s=%.6f\nops_per_sec=%.0f\n", el, ops / el);

    for (unsigned long i = 0; i < npinned; i++) {
        check_block(pinned[i], pinned_sz[i]);
        free(pinned[i]);
    }
    free(pinned);
    free(pinned_sz);
    free(ptr);
    free(sz);
    free(order);
    return 0;
}

/* latency — per-call latency percentiles of malloc and free.
 *
 * usage: latency [samples=1000000] [slots=1024]
 *
 * Two series, one after the other, on one thread:
 *   128  every request is 128 bytes
 *   mix  sizes from the server mix (80% 16-512 B, 17% 512 B-16 KiB,
 *        3% 16 KiB-1 MiB, log-uniform within each band)
 * Each keeps `slots` live blocks.  One sample picks a random slot and times
 * free(old block) and malloc(new block) separately, reading the timer
 * before the free, between the two calls and after the malloc (the timer is
 * the time-stamp counter with lfence on both sides of the read, calibrated
 * against CLOCK_MONOTONIC over 100 ms; CLOCK_MONOTONIC itself on other
 * architectures); the block is tagged and the old one checked outside the
 * timed intervals.  samples/10 untimed operations warm each series up.
 *
 * The timer's own cost is measured first: the median difference of
 * back-to-back timer reads (1M pairs).  It is subtracted from every sample
 * (negative results count as 0), so the figures are the calls' own time.
 * On a shared VM the far tail (p99.99, max) includes preemptions and page
 * faults; that is part of what a caller sees.
 *
 * Prints: timer (1 = TSC, 0 = CLOCK_MONOTONIC), ns_per_tick, clock_ns (the
 * subtracted cost), clock_min_ns, clock_p99_ns, timer_step_ns (the smallest
 * difference seen between two back-to-back costs: the timer's effective
 * resolution, which some hypervisors coarsen), and for each of malloc128,
 * free128, mallocmix, freemix: _p50_ns, _p99_ns, _p999_ns, _p9999_ns,
 * _max_ns, _mean_ns; elapsed_s, ops_per_sec (malloc and free calls per
 * second over both series, clock reads, tagging and warm-up included).
 * If BENCH_DATA_OUT is set, writes the full histogram there, one line per
 * latency bin: `<series> <ns> <count>` (series as above; bins are 1 ns wide
 * below 1 us and keep 3 significant digits above, <ns> is the lower edge),
 * so a CDF can be drawn.
 */
#include "bench_common.h"

#include <sys/mman.h>
#if defined(__x86_64__) || defined(__i386__)
#include <x86intrin.h>
#define HAVE_TSC 1
#endif

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The timer: the time-stamp counter (fenced so the timed call cannot move
 * across the read) on x86, CLOCK_MONOTONIC elsewhere. */
static inline uint64_t ticks(void)
{
#ifdef HAVE_TSC
    _mm_lfence();
    uint64_t t = __rdtsc();
    _mm_lfence();
    return t;
#else
    return now_ns();
#endif
}

static double ns_per_tick = 1.0;

static void calibrate(void)
{
#ifdef HAVE_TSC
    uint64_t n0 = now_ns(), t0 = ticks();
    while (now_ns() - n0 < 100000000ull) /* 100 ms */
        ;
    uint64_t n1 = now_ns(), t1 = ticks();
    ns_per_tick = (double)(n1 - n0) / (double)(t1 - t0);
#endif
}

/* Sample arrays come straight from mmap so the measured allocator's heap
 * holds only the workload's blocks. */
static uint32_t *map_u32(size_t n)
{
    void *p = mmap(NULL, n * sizeof(uint32_t), PROT_READ | PROT_WRITE,
                   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        bench_die("mmap of %zu samples failed", n);
    memset(p, 0, n * sizeof(uint32_t)); /* fault it in before timing */
    return p;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

static uint32_t pct(const uint32_t *sorted, size_t n, double p)
{
    /* nearest rank */
    size_t k = (size_t)(p * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return sorted[k - 1];
}

/* histogram bins (in ticks): exact below 1000, 3 significant digits above */
static uint32_t bin_of(uint32_t v)
{
    uint32_t q = 1;
    while (v / q >= 1000)
        q *= 10;
    return v / q * q;
}

static void summarize(const char *name, uint32_t *v, size_t n, FILE *hist)
{
    qsort(v, n, sizeof *v, cmp_u32);
    double sum = 0, k = ns_per_tick;
    for (size_t i = 0; i < n; i++)
        sum += v[i];
    printf("%s_p50_ns=%.1f\n%s_p99_ns=%.1f\n%s_p999_ns=%.1f\n%s_p9999_ns=%.1f\n"
           "%s_max_ns=%.1f\n%s_mean_ns=%.1f\n",
           name, k * pct(v, n, 0.50), name, k * pct(v, n, 0.99), name, k * pct(v, n, 0.999),
           name, k * pct(v, n, 0.9999), name, k * v[n - 1], name, k * sum / (double)n);
    if (hist) {
        size_t i = 0;
        while (i < n) {
            uint32_t b = bin_of(v[i]);
            size_t j = i;
            while (j < n && bin_of(v[j]) == b)
                j++;
            fprintf(hist, "%s %.1f %zu\n", name, k * b, j - i);
            i = j;
        }
    }
}

static uint32_t clamp_sub(uint64_t d, uint64_t c)
{
    if (d <= c)
        return 0;
    d -= c;
    return d > UINT32_MAX ? UINT32_MAX : (uint32_t)d;
}

/* Runs one series; fills lat_free/lat_malloc with `samples` values each. */
static void series(int mixed, unsigned long samples, unsigned long slots, uint64_t clock_ticks,
                   uint32_t *lat_free, uint32_t *lat_malloc, uint64_t seed)
{
    bench_rng r;
    rng_seed(&r, seed);
    void **ptr = xmalloc(slots * sizeof *ptr);
    size_t *sz = xmalloc(slots * sizeof *sz);
    for (unsigned long i = 0; i < slots; i++) {
        sz[i] = mixed ? rng_server_size(&r) : 128;
        ptr[i] = xmalloc(sz[i]);
        tag_block(ptr[i], sz[i]);
    }
    unsigned long warm = samples / 10;
    for (unsigned long n = 0; n < warm + samples; n++) {
        unsigned long i = (unsigned long)(rng_next(&r) % slots);
        size_t s = mixed ? rng_server_size(&r) : 128;
        void *old = ptr[i];
        check_block(old, sz[i]);
        uint64_t t0 = ticks();
        free(old);
        uint64_t t1 = ticks();
        void *p = malloc(s);
        uint64_t t2 = ticks();
        if (!p)
            bench_die("malloc(%zu) returned NULL", s);
        tag_block(p, s);
        ptr[i] = p;
        sz[i] = s;
        if (n >= warm) {
            lat_free[n - warm] = clamp_sub(t1 - t0, clock_ticks);
            lat_malloc[n - warm] = clamp_sub(t2 - t1, clock_ticks);
        }
    }
    for (unsigned long i = 0; i < slots; i++) {
        check_block(ptr[i], sz[i]);
        free(ptr[i]);
    }
    free(ptr);
    free(sz);
}

int main(int argc, char **argv)
{
    unsigned long samples = arg_ul(argc, argv, 1, 1000000);
    unsigned long slots = arg_ul(argc, argv, 2, 1024);

    calibrate();
    /* the clock's own cost: back-to-back reads */
    const size_t nclock = 1000000;
    uint32_t *cl = map_u32(nclock);
    for (size_t i = 0; i < nclock; i++) {
        uint64_t a = ticks();
        uint64_t b = ticks();
        cl[i] = (uint32_t)(b - a);
    }
    qsort(cl, nclock, sizeof *cl, cmp_u32);
    uint64_t clock_ticks = pct(cl, nclock, 0.5);
    /* the timer's granularity: smallest step between distinct readings */
    uint32_t step = 0;
    for (size_t i = 1; i < nclock; i++)
        if (cl[i] != cl[i - 1] && (step == 0 || cl[i] - cl[i - 1] < step))
            step = cl[i] - cl[i - 1];
    printf("timer_step_ns=%.1f\n", ns_per_tick * step);
    printf("timer=%d\nns_per_tick=%.4f\nclock_ns=%.1f\nclock_min_ns=%.1f\nclock_p99_ns=%.1f\n",
#ifdef HAVE_TSC
           1,
#else
           0,
#endif
           ns_per_tick, ns_per_tick * (double)clock_ticks, ns_per_tick * cl[0],
           ns_per_tick * pct(cl, nclock, 0.99));
    munmap(cl, nclock * sizeof(uint32_t));

    uint32_t *f128 = map_u32(samples), *m128 = map_u32(samples);
    uint32_t *fmix = map_u32(samples), *mmix = map_u32(samples);
    double t0 = bench_now();
    series(0, samples, slots, clock_ticks, f128, m128, 13001);
    series(1, samples, slots, clock_ticks, fmix, mmix, 13002);
    double el = bench_now() - t0;

    FILE *hist = NULL;
    const char *path = bench_data_path();
    if (path && !(hist = fopen(path, "w")))
        bench_die("cannot write %s", path);
    summarize("malloc128", m128, samples, hist);
    summarize("free128", f128, samples, hist);
    summarize("mallocmix", mmix, samples, hist);
    summarize("freemix", fmix, samples, hist);
    if (hist)
        fclose(hist);
    printf("samples=%lu\nelapsed_s=%.6f\nops_per_sec=%.0f\n", samples, el,
           (double)(samples + samples / 10) * 2.0 / el);
    return 0;
}

/* The steady-state churn workload shared by mr_churn_small.c and
 * mr_churn_large.c (see there).  Define CHURN_NAME, CHURN_LARGE before
 * including. */
#ifndef ZSLAB_MR_CHURN_H
#define ZSLAB_MR_CHURN_H

#include "large_test.h"

#include <sys/resource.h>

#if CHURN_LARGE
enum { BATCH = 24, WINDOW = 6 };
#else
enum { BATCH = 5000, WINDOW = 8 };
#endif
#define WARMUP_S 1.0
#define MEASURE_S 3.0
#define SAMPLE_S 0.1
#define MAX_SAMPLES 64
#define RSS_BAND 0.05              /* max - min over the samples, relative */
#define RSS_BAND_MIN (2u << 20)    /* ... or this much, whichever is larger */
#define MAX_MADVISE 64             /* calls over the whole measured period, */
#define MADVISE_PER_CYCLES 16      /* ... plus one per this many cycles, */
#define MADVISE_PER_SAMPLE 4       /* ... or this many per 100 ms sample */

static size_t batch_size[BATCH];
static void *slots[WINDOW][BATCH];

static uint64_t minflt(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)ru.ru_minflt;
}

static void alloc_batch(void **b, uint64_t cycle)
{
    for (int i = 0; i < BATCH; i++) {
        size_t n = batch_size[i];
        unsigned char *p = malloc(n);
        CHECK(p, "malloc(%zu)", n);
        uint64_t tag = mix64(cycle << 16 | (uint64_t)i);
#if CHURN_LARGE
        lt_touch(p, n, (unsigned char)tag);
#else
        memset(p, (int)(tag & 0xff), n);
#endif
        __builtin_memcpy(p, &tag, 8);
        __builtin_memcpy(p + n - 8, &tag, 8);
        b[i] = p;
    }
}

static void free_batch(void **b, uint64_t cycle)
{
    for (int i = 0; i < BATCH; i++) {
        if (!b[i])
            continue;
        uint64_t tag = mix64(cycle << 16 | (uint64_t)i), x, y;
        __builtin_memcpy(&x, b[i], 8);
        __builtin_memcpy(&y, (char *)b[i] + batch_size[i] - 8, 8);
        CHECK(x == tag && y == tag, "cycle %" PRIu64 ": block %d (%zu bytes) corrupted",
              cycle, i, batch_size[i]);
        free(b[i]);
        b[i] = NULL;
    }
}

static int churn_main(void)
{
    watchdog(60);
    rng_t r;
    rng_seed(&r, 606);
    size_t batch_bytes = 0;
    for (int i = 0; i < BATCH; i++) {
#if CHURN_LARGE
        int shift = (int)rng_range(&r, 13, 19);
        batch_size[i] = ((size_t)1 << shift) + (size_t)rng_below(&r, (size_t)1 << shift);
#else
        batch_size[i] = (size_t)rng_range(&r, 16, 1024);
#endif
        batch_bytes += batch_size[i];
    }
    uint64_t madv0 = 0;
    int have_madv = lt_stat("madvise_calls", &madv0);
    printf("%s: batches of %d blocks (%.2f MiB), %d live batches; %s\n", CHURN_NAME, BATCH,
           MB(batch_bytes), WINDOW,
           have_madv ? "madvise_calls from the statistics"
                     : "no madvise_calls statistic: madvise check skipped");
    fflush(stdout);

    uint64_t rss[MAX_SAMPLES], madv[MAX_SAMPLES], flt[MAX_SAMPLES], cyc[MAX_SAMPLES];
    uint64_t adv[MAX_SAMPLES];
    int ns = 0;
    uint64_t cycle = 0;
    double t0 = lt_now(), next_sample = t0 + WARMUP_S;
    for (;;) {
        int slot = (int)(cycle % WINDOW);
        if (cycle >= WINDOW)
            free_batch(slots[slot], cycle - WINDOW);
        alloc_batch(slots[slot], cycle);
        cycle++;
        double t = lt_now();
        if (t >= next_sample) {
            if (ns == MAX_SAMPLES || t - t0 > WARMUP_S + MEASURE_S)
                break;
            rss[ns] = lt_rss();
            flt[ns] = minflt();
            madv[ns] = 0;
            if (have_madv)
                lt_stat("madvise_calls", &madv[ns]);
            adv[ns] = 0;
            lt_stat("epoch_advances", &adv[ns]);
            cyc[ns] = cycle;
            ns++;
            next_sample = t + SAMPLE_S;
        }
    }
    for (int s = 0; s < WINDOW; s++) {
        uint64_t c = cycle - 1;
        while (c % WINDOW != (uint64_t)s)
            c--;
        free_batch(slots[s], c);
    }
    CHECK(ns >= 5, "only %d samples", ns);

    uint64_t rmin = rss[0], rmax = rss[0];
    for (int i = 0; i < ns; i++) {
        if (rss[i] < rmin) rmin = rss[i];
        if (rss[i] > rmax) rmax = rss[i];
    }
    uint64_t cycles = cyc[ns - 1] - cyc[0];
    uint64_t faults = flt[ns - 1] - flt[0];
    uint64_t madvs = madv[ns - 1] - madv[0];
    /* With automatic epochs, each epoch that closes may give back the free
     * pages of its spans once: two calls per advance are allowed on top.
     * On a loaded machine a cycle can stall past the purge delay, and a
     * span of the window then looks quiet and gives pages back: one call
     * per MADVISE_PER_CYCLES cycles (or MADVISE_PER_SAMPLE per sample, if
     * more: stalls come with wall time) is allowed for that (a thrash is one
     * call or more per cycle, thousands here; the page-fault check below
     * catches it too). */
    uint64_t advances = adv[ns - 1] - adv[0];
    uint64_t stall = cycles / MADVISE_PER_CYCLES;
    if (stall < MADVISE_PER_SAMPLE * (uint64_t)ns)
        stall = MADVISE_PER_SAMPLE * (uint64_t)ns; /* a slow machine runs fewer cycles */
    uint64_t max_madvise = MAX_MADVISE + stall + 2 * advances;
    double pages_per_cycle = (double)batch_bytes / 4096.0;
    printf("%" PRIu64 " cycles in %.2fs; measured %" PRIu64 " cycles after %.1fs of warm-up, "
           "%d samples\n", cycle, lt_now() - t0, cycles, WARMUP_S, ns);
    printf("RSS: min %.2f MiB max %.2f MiB (band %.1f%%); page faults %" PRIu64
           " (%.2f per cycle, a cycle touches %.0f pages); madvise calls %" PRIu64 "\n",
           MB(rmin), MB(rmax), 100.0 * (double)(rmax - rmin) / (double)rmin, faults,
           cycles ? (double)faults / (double)cycles : 0.0, pages_per_cycle, madvs);
    printf("samples (cycle: RSS KiB / faults / madvise):");
    for (int i = 0; i < ns; i++)
        printf("%s%" PRIu64 ": %" PRIu64 "/%" PRIu64 "/%" PRIu64, i % 5 ? "  " : "\n  ",
               cyc[i], rss[i] >> 10, flt[i] - flt[0], madv[i] - madv[0]);
    printf("\n");
    fflush(stdout);
    CHECK(cycles >= 20, "only %" PRIu64 " cycles measured", cycles);

    if (mode_is_glibc()) {
        printf("glibc mode: checks skipped\n");
    } else {
        uint64_t band = (uint64_t)((double)rmin * RSS_BAND);
        if (band < RSS_BAND_MIN)
            band = RSS_BAND_MIN;
        CHECK(rmax - rmin <= band, "RSS moved between %.2f and %.2f MiB in steady-state "
              "churn (allowed: %.2f MiB)", MB(rmin), MB(rmax), MB(band));
        if (have_madv)
            CHECK(madvs <= max_madvise, "%" PRIu64 " madvise calls over %" PRIu64
                  " steady-state cycles (at most %" PRIu64 " expected, %" PRIu64
                  " epoch advances): pages are returned and faulted back in every cycle",
                  madvs, cycles, max_madvise, advances);
        /* Less than 1% of the pages a cycle touches fault, on average. */
        CHECK((double)faults <= (double)cycles * pages_per_cycle / 100.0 + 256,
              "%" PRIu64 " page faults over %" PRIu64 " steady-state cycles (%.1f per "
              "cycle): the cycle's pages are not kept", faults, cycles,
              (double)faults / (double)cycles);
    }
    return 0;
}

#endif

// expect: exit 0
/* mr_phase_large: memory goes back to the OS when a phase of medium and
 * large blocks ends, though some of the phase's blocks survive.
 *
 * Three phases; each allocates ~300 MB of blocks of 8 KiB - 1 MiB
 * (log-uniform sizes, every byte written) and keeps one cluster of 4
 * consecutive blocks in every 20 (at a random place in the 20): 20% of the
 * blocks survive, scattered through the phase's memory.  Then the rest is
 * freed (in allocation order) and the program sleeps 300 ms.  RSS is read
 * from /proc/self/statm.
 *
 * The kept-only twin is the same program (same seed, sizes and arrays) that
 * never allocates the dropped blocks, run first in a fresh process under
 * the same allocator (/proc/self/exe twin).  After each drop:
 *
 *     RSS after the drop  <=  1.2 x the twin's RSS at the same point
 *
 * and every survivor's contents are intact.  The fraction of the dropped
 * pages that left RSS, (peak - after) / (peak - twin), is printed too.
 *
 * Under plain glibc (run.sh none) the workload and the content checks run;
 * the RSS figures are printed, not enforced.
 */
#include "large_test.h"

enum {
    PHASES = 3,
    PHASE_BYTES = 300 << 20,
    MAX_PER_PHASE = 1 << 16, /* ~1500 blocks per phase on average */
    MAX_KEPT = PHASES << 14,
    GROUP = 20,
    CLUSTER = 4,
};
#define DEADLINE_MS 300
#define MAX_RATIO 1.2

struct obj {
    void *p;
    uint32_t n;
    uint32_t tag;
};

static struct obj *kept;   /* all phases' survivors */
static size_t nkept;
static void **dropped;     /* the current phase's garbage */
static size_t ndropped;

static void check_survivors(const char *when)
{
    for (size_t i = 0; i < nkept; i++)
        CHECK_PATTERN(kept[i].p, kept[i].n, kept[i].tag, "survivor %zu (%u bytes) %s", i,
                      kept[i].n, when);
}

/* One phase.  `twin`: do not allocate the dropped objects. */
static void phase(rng_t *r, int ph, int twin, size_t *kept_bytes, size_t *dropped_bytes)
{
    size_t bytes = 0, idx = 0;
    unsigned cluster_at = 0;
    ndropped = 0;
    *kept_bytes = *dropped_bytes = 0;
    uint32_t tag = (uint32_t)ph << 24;
    while (bytes < PHASE_BYTES) {
        /* log-uniform in [8 KiB, 1 MiB] */
        int shift = (int)rng_range(r, 13, 19);
        size_t n = ((size_t)1 << shift) + (size_t)rng_below(r, (size_t)1 << shift);
        if (idx % GROUP == 0)
            cluster_at = (unsigned)rng_below(r, GROUP - CLUSTER + 1);
        unsigned pos = (unsigned)(idx % GROUP);
        int keep = pos >= cluster_at && pos < cluster_at + CLUSTER;
        idx++;
        bytes += n;
        tag++;
        if (keep) {
            CHECK(nkept < MAX_KEPT, "too many survivors");
            void *p = malloc(n);
            CHECK(p, "malloc(%zu)", n);
            kept[nkept].p = p;
            kept[nkept].n = (uint32_t)n;
            kept[nkept].tag = tag;
            fill_pattern(p, n, tag);
            nkept++;
            *kept_bytes += n;
        } else {
            *dropped_bytes += n;
            if (twin)
                continue;
            CHECK(ndropped < MAX_PER_PHASE, "too many objects in a phase");
            void *p = malloc(n);
            CHECK(p, "malloc(%zu)", n);
            memset(p, (int)(tag & 0xff), n);
            dropped[ndropped++] = p;
        }
    }
}

static void setup(void)
{
    /* Arrays allocated and touched before anything is measured (both runs
     * have the same). */
    kept = malloc(sizeof *kept * (size_t)MAX_KEPT);
    dropped = malloc(sizeof *dropped * (size_t)MAX_PER_PHASE);
    CHECK(kept && dropped, "malloc arrays");
    memset(kept, 0, sizeof *kept * (size_t)MAX_KEPT);
    memset(dropped, 0, sizeof *dropped * (size_t)MAX_PER_PHASE);
    printf("mr_phase_large\n");
    fflush(stdout);
}

static int run_twin(void)
{
    rng_t r;
    rng_seed(&r, 2025);
    setup();
    printf("base=%" PRIu64 "\n", lt_rss());
    for (int ph = 0; ph < PHASES; ph++) {
        size_t kb, db;
        phase(&r, ph, 1, &kb, &db);
        lt_sleep_ms(DEADLINE_MS);
        printf("twin%d=%" PRIu64 "\n", ph, lt_rss());
    }
    check_survivors("in the twin");
    fflush(stdout);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "twin") == 0)
        return run_twin();
    watchdog(110);
    static char twin_out[4096];
    lt_run_twin("twin", twin_out, sizeof twin_out);

    rng_t r;
    rng_seed(&r, 2025);
    setup();
    uint64_t base = lt_rss();
    uint64_t twin_base = lt_twin_value(twin_out, "base");
    printf("base RSS %.1f MiB (twin %.1f MiB)\n", MB(base), MB(twin_base));
    int bad = 0;
    double worst = 0.0;
    for (int ph = 0; ph < PHASES; ph++) {
        size_t kb, db;
        phase(&r, ph, 0, &kb, &db);
        uint64_t peak = lt_rss();
        check_survivors("before the drop");
        for (size_t i = 0; i < ndropped; i++)
            free(dropped[i]);
        double t_drop = lt_now();
        uint64_t at0 = lt_rss();
        lt_sleep_ms(DEADLINE_MS);
        uint64_t after = lt_rss();
        double waited = lt_now() - t_drop;
        char key[16];
        snprintf(key, sizeof key, "twin%d", ph);
        uint64_t twin = lt_twin_value(twin_out, key);
        double returned = peak > twin ? (double)(peak > after ? peak - after : 0) /
                                            (double)(peak - twin)
                                      : 1.0;
        double ratio = (double)after / (double)twin;
        printf("phase %d: kept %.1f MiB (%zu blocks so far), dropped %.1f MiB in %zu blocks; RSS peak "
               "%.1f MiB, right after the frees %.1f MiB, %.0f ms later %.1f MiB; kept-only "
               "twin %.1f MiB; returned %.1f%% of the dropped pages; %.2fx the twin\n",
               ph, MB(kb), nkept, MB(db), ndropped, MB(peak), MB(at0), waited * 1000,
               MB(after), MB(twin), 100.0 * returned, (double)after / (double)twin);
        fflush(stdout);
        if (ratio > worst)
            worst = ratio;
        if (ratio > MAX_RATIO)
            bad = 1;
        check_survivors("after the drop");
    }
    check_survivors("at the end");
    for (size_t i = 0; i < nkept; i++)
        free(kept[i].p);
    if (mode_is_glibc()) {
        printf("glibc mode: RSS checks skipped (worst phase %.2fx the twin)\n", worst);
    } else {
        CHECK(!bad, "%d ms after a drop, RSS was %.2fx the kept-only twin's (at most %.1fx "
              "expected)", DEADLINE_MS, worst, MAX_RATIO);
    }
    ok("mr_phase_large");
    return 0;
}

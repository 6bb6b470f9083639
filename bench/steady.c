/* steady — churn with no phase structure: heavy-tailed object lifetimes.
 *
 * usage: steady [ops=8000000] [max_life=1000000] [sample_ms=50]
 *
 * One thread.  Every op mallocs one block (mixed small sizes, 16 B..1 KiB)
 * and gives it a lifetime drawn log-uniformly between 1 and `max_life` ops;
 * blocks whose lifetime has run out are checked and freed (a min-heap on
 * the death time).  Lifetimes span six decades, so at any moment most
 * blocks die young but some live for a million ops; there is no moment at
 * which "a phase ends".  The live set settles after `max_life` ops at about
 * max_life / ln(max_life) blocks (~72 000, ~25 MiB for the defaults) and
 * stays there.
 *
 * This is the shape on which automatic epochs (ZSLAB_EPOCH_MS,
 * ZSLAB_EPOCH_ALLOCS) could hurt: each epoch's slabs keep the few long
 * lived blocks born in it.  The harness runs it under zslab with and
 * without automatic epochs and compares peak and steady RSS.
 *
 * RSS is read from /proc/self/statm every sample_ms (checked every 4096
 * ops).  Prints: ops, live_end, rss_samples, rss_peak_kb (largest sample),
 * rss_steady_kb (median of the samples in the second half of the run),
 * elapsed_s, ops_per_sec.
 */
#include "bench_common.h"

typedef struct {
    uint64_t death;
    void *p;
    size_t size;
} ent;

static ent *heap;
static size_t nheap;

static void heap_push(ent e)
{
    size_t i = nheap++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (heap[parent].death <= e.death)
            break;
        heap[i] = heap[parent];
        i = parent;
    }
    heap[i] = e;
}

static ent heap_pop(void)
{
    ent top = heap[0], last = heap[--nheap];
    size_t i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= nheap)
            break;
        if (c + 1 < nheap && heap[c + 1].death < heap[c].death)
            c++;
        if (last.death <= heap[c].death)
            break;
        heap[i] = heap[c];
        i = c;
    }
    if (nheap > 0)
        heap[i] = last;
    return top;
}

static int cmp_long(const void *a, const void *b)
{
    long x = *(const long *)a, y = *(const long *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv)
{
    unsigned long ops = arg_ul(argc, argv, 1, 8000000);
    unsigned long max_life = arg_ul(argc, argv, 2, 1000000);
    unsigned long sample_ms = arg_ul(argc, argv, 3, 50);

    size_t cap = max_life + 16;
    heap = xmalloc(cap * sizeof *heap);
    size_t scap = 1 << 16, ns = 0;
    long *rss = xmalloc(scap * sizeof *rss);
    double *when = xmalloc(scap * sizeof *when);

    bench_rng r;
    rng_seed(&r, 18001);
    double t0 = bench_now(), next = t0;
    for (uint64_t n = 0; n < ops; n++) {
        while (nheap > 0 && heap[0].death <= n) {
            ent e = heap_pop();
            check_block(e.p, e.size);
            free(e.p);
        }
        size_t s = rng_mixed_size(&r);
        void *p = xmalloc(s);
        tag_block(p, s);
        uint64_t life = (uint64_t)rng_log_size(&r, 1, max_life);
        if (nheap == cap)
            bench_die("heap capacity exceeded");
        heap_push((ent){n + life, p, s});
        if ((n & 4095) == 0) {
            double t = bench_now();
            if (t >= next && ns < scap) {
                rss[ns] = bench_rss_kb();
                when[ns++] = t - t0;
                next = t + (double)sample_ms / 1000.0;
            }
        }
    }
    double el = bench_now() - t0;
    rss[ns] = bench_rss_kb();
    when[ns++] = el;

    long peak = 0;
    for (size_t i = 0; i < ns; i++)
        if (rss[i] > peak)
            peak = rss[i];
    /* steady: median of the samples taken in the second half of the run */
    long *tail = xmalloc(ns * sizeof *tail);
    size_t nt = 0;
    for (size_t i = 0; i < ns; i++)
        if (when[i] >= el / 2)
            tail[nt++] = rss[i];
    qsort(tail, nt, sizeof *tail, cmp_long);
    long steady = nt ? tail[nt / 2] : -1;

    printf("ops=%lu\nlive_end=%zu\nrss_samples=%zu\nrss_peak_kb=%ld\nrss_steady_kb=%ld\n", ops,
           nheap, ns, peak, steady);
    printf("elapsed_s=%.6f\nops_per_sec=%.0f\n", el, (double)ops / el);
    while (nheap > 0) {
        ent e = heap_pop();
        check_block(e.p, e.size);
        free(e.p);
    }
    free(heap);
    free(rss);
    free(when);
    free(tail);
    return 0;
}

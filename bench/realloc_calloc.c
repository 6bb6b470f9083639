/* realloc_calloc — realloc growth chains and large zeroed buffers.
 *
 * usage: realloc_calloc [rounds=20] [chains=8] [max_kb=4096] [callocs=400] [calloc_max_kb=16384]
 *
 * Part 1, realloc growth: each round starts `chains` blocks of 16 bytes and
 * grows them step by step, picking a random chain each step (so the chains'
 * growth is interleaved and a block's neighbour is usually taken), by a
 * factor of 1.05..1.5 plus a few bytes, until each reaches `max_kb` KiB;
 * then they are freed.  Every block's contents are a pattern that depends
 * on the chain and the offset: after each realloc the whole old prefix is
 * compared with the pattern (memcmp) and the new tail is filled in.  A
 * realloc that loses or moves data wrongly fails the run (exit 3).  This
 * covers in-place growth, moves across size classes, and the transition
 * from small blocks to page-sized and mmap-sized ones.
 *
 * Part 2, calloc: `callocs` times, calloc a buffer of 64 KiB..calloc_max_kb
 * KiB (log-uniform, as nmemb x size with nmemb = size/16), check that every
 * byte is zero, fill it with a non-zero pattern and keep it in a ring of 4;
 * the block leaving the ring is freed.  An allocator that hands out reused
 * memory without zeroing it fails; one that zeroes memory the kernel just
 * gave it (already zero) pays for it in time.
 *
 * Prints: realloc_steps, realloc_moves (steps that changed the address),
 * callocs, calloc_mb, realloc_s, calloc_s, elapsed_s, ops_per_sec
 * (realloc steps + callocs per second).
 */
#include "bench_common.h"

static unsigned char *pattern; /* 2 * max bytes: chain c's byte j is pattern[j + off_c] */

static void fill_pattern(size_t n)
{
    pattern = xmalloc(n);
    bench_rng r;
    rng_seed(&r, 14001);
    for (size_t i = 0; i < n; i += 8) {
        uint64_t x = rng_next(&r);
        size_t k = n - i < 8 ? n - i : 8;
        memcpy(pattern + i, &x, k);
    }
}

int main(int argc, char **argv)
{
    unsigned long rounds = arg_ul(argc, argv, 1, 20);
    unsigned long chains = arg_ul(argc, argv, 2, 8);
    unsigned long max_kb = arg_ul(argc, argv, 3, 4096);
    unsigned long callocs = arg_ul(argc, argv, 4, 400);
    unsigned long calloc_max_kb = arg_ul(argc, argv, 5, 16384);
    if (calloc_max_kb < 64)
        calloc_max_kb = 64;

    size_t max = (size_t)max_kb * 1024;
    fill_pattern(2 * max + 64);
    bench_rng r;
    rng_seed(&r, 14002);

    unsigned char **blk = xmalloc(chains * sizeof *blk);
    size_t *len = xmalloc(chains * sizeof *len);
    size_t *off = xmalloc(chains * sizeof *off);
    unsigned long steps = 0, moves = 0;
    double t0 = bench_now();
    for (unsigned long round = 0; round < rounds; round++) {
        unsigned long growing = chains;
        for (unsigned long c = 0; c < chains; c++) {
            len[c] = 16;
            off[c] = (size_t)(rng_next(&r) % max);
            blk[c] = xmalloc(len[c]);
            memcpy(blk[c], pattern + off[c], len[c]);
        }
        while (growing > 0) {
            unsigned long c = (unsigned long)(rng_next(&r) % chains);
            if (len[c] >= max)
                continue;
            double f = 1.05 + 0.45 * rng_unit(&r);
            size_t n = (size_t)((double)len[c] * f) + rng_range(&r, 1, 64);
            if (n > max)
                n = max;
            unsigned char *p = realloc(blk[c], n);
            if (!p)
                bench_die("realloc(%zu) returned NULL", n);
            if (p != blk[c])
                moves++;
            if (memcmp(p, pattern + off[c], len[c]) != 0)
                bench_die("realloc from %zu to %zu bytes lost data", len[c], n);
            memcpy(p + len[c], pattern + off[c] + len[c], n - len[c]);
            blk[c] = p;
            len[c] = n;
            steps++;
            if (n >= max)
                growing--;
        }
        for (unsigned long c = 0; c < chains; c++) {
            if (memcmp(blk[c], pattern + off[c], len[c]) != 0)
                bench_die("chain %lu corrupted", c);
            free(blk[c]);
        }
    }
    double t1 = bench_now();

    enum { RING = 4 };
    unsigned char *ring[RING] = {0};
    double mb = 0;
    for (unsigned long i = 0; i < callocs; i++) {
        size_t size = rng_log_size(&r, 65536, (size_t)calloc_max_kb * 1024) & ~(size_t)15;
        unsigned char *p = calloc(size / 16, 16);
        if (!p)
            bench_die("calloc(%zu, 16) returned NULL", size / 16);
        const uint64_t *w = (const uint64_t *)p;
        uint64_t acc = 0;
        for (size_t k = 0; k < size / 8; k++)
            acc |= w[k];
        if (acc != 0)
            bench_die("calloc(%zu, 16) returned non-zero memory", size / 16);
        memset(p, 0xA5, size);
        mb += (double)size / 1048576.0;
        unsigned k = (unsigned)(i % RING);
        free(ring[k]);
        ring[k] = p;
    }
    for (unsigned k = 0; k < RING; k++)
        free(ring[k]);
    double t2 = bench_now();

    printf("realloc_steps=%lu\nrealloc_moves=%lu\ncallocs=%lu\ncalloc_mb=%.0f\n", steps, moves,
           callocs, mb);
    printf("realloc_s=%.6f\ncalloc_s=%.6f\nelapsed_s=%.6f\nops_per_sec=%.0f\n", t1 - t0, t2 - t1,
           t2 - t0, (double)(steps + callocs) / (t2 - t0));
    free(blk);
    free(len);
    free(off);
    free(pattern);
    return 0;
}

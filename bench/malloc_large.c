/* malloc_large — large allocations, 64 KiB .. 8 MiB.
 *
 * usage: malloc_large [ops=20000] [slots=16]
 *
 * A ring of `slots` live blocks; one op frees a random slot's block and
 * mallocs a new one with a log-uniform size between 64 KiB and 8 MiB, then
 * touches one byte in every 4 KiB page of it (so page-fault and
 * mmap/munmap/madvise costs — what dominates large allocations in real
 * programs — are part of the measurement).  zslab delegates these sizes to
 * glibc, so it should track glibc here.
 *
 * Prints: ops, elapsed_s, ops_per_sec.
 */
#include "bench_common.h"

#include <math.h>

static size_t large_size(bench_rng *r)
{
    /* log2 uniform in [16, 23] => 64 KiB .. 8 MiB */
    double u = (double)(rng_next(r) >> 11) / 9007199254740992.0;
    double s = exp2(16.0 + 7.0 * u);
    size_t size = (size_t)s;
    if (size < 65536)
        size = 65536;
    if (size > 8u << 20)
        size = 8u << 20;
    return size;
}

static void touch(void *p, size_t size)
{
    volatile unsigned char *b = p;
    for (size_t off = 0; off < size; off += 4096)
        b[off] = (unsigned char)off;
}

int main(int argc, char **argv)
{
    unsigned long ops = arg_ul(argc, argv, 1, 20000);
    unsigned long slots = arg_ul(argc, argv, 2, 16);

    bench_rng r;
    rng_seed(&r, 5151);
    void **ptr = xmalloc(slots * sizeof *ptr);
    size_t *sz = xmalloc(slots * sizeof *sz);
    for (unsigned long i = 0; i < slots; i++) {
        sz[i] = large_size(&r);
        ptr[i] = xmalloc(sz[i]);
        touch(ptr[i], sz[i]);
        tag_block(ptr[i], sz[i]);
    }
    double t0 = bench_now();
    for (unsigned long n = 0; n < ops; n++) {
        unsigned long i = (unsigned long)(rng_next(&r) % slots);
        check_block(ptr[i], sz[i]);
        free(ptr[i]);
        sz[i] = large_size(&r);
        ptr[i] = xmalloc(sz[i]);
        touch(ptr[i], sz[i]);
        tag_block(ptr[i], sz[i]);
    }
    double el = bench_now() - t0;
    for (unsigned long i = 0; i < slots; i++) {
        check_block(ptr[i], sz[i]);
        free(ptr[i]);
    }
    printf("ops=%lu\nelapsed_s=%.6f\nops_per_sec=%.0f\n", ops, el, (double)ops / el);
    free(ptr);
    free(sz);
    return 0;
}

/* medium_replace — 64 live blocks of 8 KiB..512 KiB replaced at random.
 *
 * usage: medium_replace [ops=2000000] [slots=64]
 *
 * A set of `slots` live blocks; one op frees a random slot's block and
 * mallocs a new one with a log-uniform size between 8 KiB and 512 KiB, then
 * writes its first and last byte (the tag).  Only the touched pages become
 * resident, so the cost is the allocator's handling of medium sizes: size
 * classes or page runs, caching of freed runs, and whether it maps and
 * unmaps (or faults) memory per request.  glibc serves sizes above its
 * mmap threshold with mmap/munmap until the threshold adapts upwards.
 *
 * Prints: ops, elapsed_s, ops_per_sec.
 */
#include "bench_common.h"

int main(int argc, char **argv)
{
    unsigned long ops = arg_ul(argc, argv, 1, 2000000);
    unsigned long slots = arg_ul(argc, argv, 2, 64);

    bench_rng r;
    rng_seed(&r, 16001);
    void **ptr = xmalloc(slots * sizeof *ptr);
    size_t *sz = xmalloc(slots * sizeof *sz);
    for (unsigned long i = 0; i < slots; i++) {
        sz[i] = rng_log_size(&r, 8192, 524288);
        ptr[i] = xmalloc(sz[i]);
        tag_block(ptr[i], sz[i]);
    }
    double t0 = bench_now();
    for (unsigned long n = 0; n < ops; n++) {
        unsigned long i = (unsigned long)(rng_next(&r) % slots);
        check_block(ptr[i], sz[i]);
        free(ptr[i]);
        sz[i] = rng_log_size(&r, 8192, 524288);
        ptr[i] = xmalloc(sz[i]);
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

/* malloc_simple — glibc bench-malloc-simple shape: one thread, fixed small
 * sizes, allocate a whole working set then free it, deep working sets.
 *
 * usage: malloc_simple [total_ops=40000000] [max_depth=100000]
 *
 * For every size in {16, 32, 64, 128, 256} bytes and every working-set depth
 * in {100, 1000, 10000, 100000} (depths above max_depth are skipped): repeat
 * "malloc `depth` blocks of that size (tagging each), then check and free
 * them in allocation order" until about total_ops / (number of combinations)
 * malloc+free pairs are done.  The deep working sets (up to 100 000 live
 * blocks, 25 MiB at 256 B) leave the per-thread caches behind: the
 * allocator's bulk refill and its handling of long free runs are measured,
 * not only a hot cache.
 *
 * Prints: ns_s<size>_d<depth> (ns per malloc+free pair) for each
 * combination, ops (pairs), elapsed_s, ops_per_sec.
 */
#include "bench_common.h"

int main(int argc, char **argv)
{
    unsigned long total = arg_ul(argc, argv, 1, 40000000);
    unsigned long max_depth = arg_ul(argc, argv, 2, 100000);
    static const size_t sizes[] = {16, 32, 64, 128, 256};
    static const unsigned long depths[] = {100, 1000, 10000, 100000};
    const int nsizes = (int)(sizeof sizes / sizeof sizes[0]);
    const int ndepths = (int)(sizeof depths / sizeof depths[0]);

    int combos = 0;
    for (int d = 0; d < ndepths; d++)
        if (depths[d] <= max_depth)
            combos++;
    combos *= nsizes;
    if (combos == 0)
        bench_die("max_depth %lu is below the smallest depth", max_depth);
    unsigned long per_combo = total / (unsigned long)combos;

    void **ptr = xmalloc(max_depth * sizeof *ptr);
    double sum_el = 0, sum_ops = 0;
    for (int si = 0; si < nsizes; si++) {
        for (int di = 0; di < ndepths; di++) {
            size_t size = sizes[si];
            unsigned long depth = depths[di];
            if (depth > max_depth)
                continue;
            unsigned long iters = per_combo / depth;
            if (iters == 0)
                iters = 1;
            double t0 = bench_now();
            for (unsigned long it = 0; it < iters; it++) {
                for (unsigned long i = 0; i < depth; i++) {
                    ptr[i] = xmalloc(size);
                    tag_block(ptr[i], size);
                }
                for (unsigned long i = 0; i < depth; i++) {
                    check_block(ptr[i], size);
                    free(ptr[i]);
                }
            }
            double el = bench_now() - t0;
            double ops = (double)iters * (double)depth;
            printf("ns_s%zu_d%lu=%.2f\n", size, depth, el * 1e9 / ops);
            sum_el += el;
            sum_ops += ops;
        }
    }
    free(ptr);
    printf("ops=%.0f\nelapsed_s=%.6f\nops_per_sec=%.0f\n", sum_ops, sum_el, sum_ops / sum_el);
    return 0;
}

/* scaling — thread scaling of the same-thread path, 1 .. 2N threads.
 *
 * usage: scaling [max_threads=0 (= 2 x online CPUs)] [total_ops=24000000] [slots=1000]
 *
 * For every thread count t = 1 .. max_threads: start t threads, each with
 * its own ring of `slots` live blocks (sizes from the mixed small
 * distribution, 16 B..1 KiB), and let each do total_ops / t replacements
 * (check+free a random slot's block, malloc a new one, tag it).  Nothing
 * crosses threads.  The same amount of work is done at every thread count,
 * so throughput (ops/s, all threads together) should grow up to the number
 * of cores and stay flat beyond it; an allocator with shared state on its
 * fast path (a lock, a shared cache line) falls behind as t grows.
 *
 * Prints: max_threads, ncpu, tput_t<k> (ops/s with k threads) for every k,
 * scaling_2v1 (tput_t2 / tput_t1), scaling_maxv1, elapsed_s and
 * ops_per_sec (all counts' ops over their summed elapsed time).
 */
#include "bench_common.h"

#include <pthread.h>

typedef struct {
    unsigned long id, ops, slots;
    pthread_barrier_t *start;
} worker_arg;

static void *worker(void *argp)
{
    worker_arg *a = argp;
    bench_rng r;
    rng_seed(&r, 7000 + a->id);
    void **ptr = xmalloc(a->slots * sizeof *ptr);
    size_t *sz = xmalloc(a->slots * sizeof *sz);
    for (unsigned long i = 0; i < a->slots; i++) {
        sz[i] = rng_mixed_size(&r);
        ptr[i] = xmalloc(sz[i]);
        tag_block(ptr[i], sz[i]);
    }
    pthread_barrier_wait(a->start);
    for (unsigned long n = 0; n < a->ops; n++) {
        unsigned long i = (unsigned long)(rng_next(&r) % a->slots);
        check_block(ptr[i], sz[i]);
        free(ptr[i]);
        sz[i] = rng_mixed_size(&r);
        ptr[i] = xmalloc(sz[i]);
        tag_block(ptr[i], sz[i]);
    }
    pthread_barrier_wait(a->start);
    for (unsigned long i = 0; i < a->slots; i++) {
        check_block(ptr[i], sz[i]);
        free(ptr[i]);
    }
    free(ptr);
    free(sz);
    return NULL;
}

/* Runs `threads` workers; returns the elapsed seconds of the timed part
 * (from the start barrier to the barrier all reach when done). */
static double run(unsigned long threads, unsigned long ops_each, unsigned long slots)
{
    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    pthread_t *tid = xmalloc(threads * sizeof *tid);
    worker_arg *args = xmalloc(threads * sizeof *args);
    for (unsigned long t = 0; t < threads; t++) {
        args[t] = (worker_arg){.id = t, .ops = ops_each, .slots = slots, .start = &bar};
        if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&bar);
    double t0 = bench_now();
    pthread_barrier_wait(&bar);
    double el = bench_now() - t0;
    for (unsigned long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    pthread_barrier_destroy(&bar);
    free(tid);
    free(args);
    return el;
}

int main(int argc, char **argv)
{
    unsigned long ncpu = bench_ncpu();
    unsigned long maxt = arg_ul0(argc, argv, 1, 0);
    unsigned long total = arg_ul(argc, argv, 2, 24000000);
    unsigned long slots = arg_ul(argc, argv, 3, 1000);
    if (maxt == 0)
        maxt = 2 * ncpu;

    double sum_el = 0, sum_ops = 0, t1 = 0, t2 = 0, tmax = 0;
    printf("max_threads=%lu\nncpu=%lu\n", maxt, ncpu);
    for (unsigned long t = 1; t <= maxt; t++) {
        unsigned long each = total / t;
        double el = run(t, each, slots);
        double ops = (double)each * (double)t;
        double tput = ops / el;
        printf("tput_t%lu=%.0f\n", t, tput);
        fflush(stdout);
        if (t == 1)
            t1 = tput;
        if (t == 2)
            t2 = tput;
        tmax = tput;
        sum_el += el;
        sum_ops += ops;
    }
    if (t1 > 0 && t2 > 0)
        printf("scaling_2v1=%.3f\n", t2 / t1);
    printf("scaling_maxv1=%.3f\n", tmax / t1);
    printf("elapsed_s=%.6f\nops_per_sec=%.0f\n", sum_el, sum_ops / sum_el);
    return 0;
}

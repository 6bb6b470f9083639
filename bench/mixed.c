/* mixed — same-thread malloc/free of mixed small sizes.
 *
 * usage: mixed [threads=1] [ops_per_thread=100000000] [slots=1000]
 *
 * Each thread owns a ring of `slots` live blocks.  One op = pick a random
 * slot, check+free its block, malloc a new one of a random size from the
 * mixed distribution (50% 16..128 B, 30% 129..512 B, 20% 513..1024 B) and
 * tag it.  Nothing crosses threads, so this measures the allocator's
 * thread-local fast path (and, with 2 threads, its scalability).
 *
 * Prints: threads, ops, elapsed_s, ops_per_sec (total over all threads).
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
    rng_seed(&r, 1000 + a->id);
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
    for (unsigned long i = 0; i < a->slots; i++) {
        check_block(ptr[i], sz[i]);
        free(ptr[i]);
    }
    free(ptr);
    free(sz);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long threads = arg_ul(argc, argv, 1, 1);
    unsigned long ops = arg_ul(argc, argv, 2, 100000000);
    unsigned long slots = arg_ul(argc, argv, 3, 1000);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_t *tid = xmalloc(threads * sizeof *tid);
    worker_arg *args = xmalloc(threads * sizeof *args);
    for (unsigned long t = 0; t < threads; t++) {
        args[t] = (worker_arg){.id = t, .ops = ops, .slots = slots, .start = &start};
        if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    for (unsigned long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double el = bench_now() - t0;

    double total = (double)threads * (double)ops;
    printf("threads=%lu\nops=%.0f\nelapsed_s=%.6f\nops_per_sec=%.0f\n", threads, total, el,
           total / el);
    free(tid);
    free(args);
    return 0;
}

/* randsize — random-size working-set loop, sizes 4 B..32 KiB, inverse-square.
 *
 * usage: randsize [threads=1] [ops_per_thread=20000000] [slots=1024]
 *
 * Each thread owns `slots` live blocks.  One iteration frees a random slot's
 * block (after checking its tag) and refills the slot with a new block whose
 * size is drawn with density proportional to 1/size^2 between 4 B and
 * 32 KiB: half the requests are below 8 B, 94% below 64 B, and a thin tail
 * reaches 32 KiB (mean ~36 B).  Frees land at random places in the working
 * set, so the allocator's free space is scattered across many pages, and
 * the rare large requests cross whatever size limits the allocator's fast
 * path has.
 *
 * Prints: threads, ops, elapsed_s, ops_per_sec (iterations per second, all
 * threads together).
 */
#include "bench_common.h"

#include <pthread.h>

typedef struct {
    unsigned long id, ops, slots;
    pthread_barrier_t *bar;
} worker_arg;

static void *worker(void *argp)
{
    worker_arg *a = argp;
    bench_rng r;
    rng_seed(&r, 15000 + a->id);
    void **ptr = xmalloc(a->slots * sizeof *ptr);
    size_t *sz = xmalloc(a->slots * sizeof *sz);
    for (unsigned long i = 0; i < a->slots; i++) {
        sz[i] = rng_invsq_size(&r, 4, 32768);
        ptr[i] = xmalloc(sz[i]);
        tag_any(ptr[i], sz[i]);
    }
    pthread_barrier_wait(a->bar);
    for (unsigned long n = 0; n < a->ops; n++) {
        unsigned long i = (unsigned long)(rng_next(&r) % a->slots);
        check_any(ptr[i], sz[i]);
        free(ptr[i]);
        sz[i] = rng_invsq_size(&r, 4, 32768);
        ptr[i] = xmalloc(sz[i]);
        tag_any(ptr[i], sz[i]);
    }
    pthread_barrier_wait(a->bar);
    for (unsigned long i = 0; i < a->slots; i++) {
        check_any(ptr[i], sz[i]);
        free(ptr[i]);
    }
    free(ptr);
    free(sz);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long threads = arg_ul(argc, argv, 1, 1);
    unsigned long ops = arg_ul(argc, argv, 2, 20000000);
    unsigned long slots = arg_ul(argc, argv, 3, 1024);

    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    pthread_t *tid = xmalloc(threads * sizeof *tid);
    worker_arg *args = xmalloc(threads * sizeof *args);
    for (unsigned long t = 0; t < threads; t++) {
        args[t] = (worker_arg){.id = t, .ops = ops, .slots = slots, .bar = &bar};
        if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&bar);
    double t0 = bench_now();
    pthread_barrier_wait(&bar);
    double el = bench_now() - t0;
    for (unsigned long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double total = (double)threads * (double)ops;
    printf("threads=%lu\nops=%.0f\nelapsed_s=%.6f\nops_per_sec=%.0f\n", threads, total, el,
           total / el);
    free(tid);
    free(args);
    return 0;
}

/* xmalloc — every thread frees blocks that other threads allocated, all at once.
 *
 * usage: xmalloc [threads=0 (= 2 x online CPUs)] [rounds=400] [batch=10000]
 *
 * In every round each of `threads` threads mallocs `batch` blocks of
 * 16..256 B (uniform), tags them and publishes its batch; after a barrier
 * each thread checks and frees the batch of another thread (the partner
 * rotates from round to round, never itself), so all threads free remote
 * blocks at the same moment, and the blocks they allocate next must come
 * from memory that other threads just handed back.  A second barrier ends
 * the round.  (In the spirit of xmalloc-test, where some threads allocate
 * and others free as fast as they can; here every thread does both, in
 * alternation, so the remote frees of all threads collide.)
 *
 * The other direction, one thread allocating and another freeing
 * continuously, is the `prodcons` workload.
 *
 * Prints: threads, rounds, batch, ops (malloc+free pairs), elapsed_s,
 * ops_per_sec.
 */
#include "bench_common.h"

#include <pthread.h>

typedef struct {
    unsigned long id, threads, rounds, batch;
    void ***batches; /* batches[t] = thread t's current batch */
    pthread_barrier_t *bar;
} worker_arg;

static void *worker(void *argp)
{
    worker_arg *a = argp;
    bench_rng r;
    rng_seed(&r, 8000 + a->id);
    void **mine = a->batches[a->id];
    pthread_barrier_wait(a->bar);
    for (unsigned long round = 0; round < a->rounds; round++) {
        for (unsigned long i = 0; i < a->batch; i++) {
            size_t s = rng_range(&r, 16, 256);
            void *p = xmalloc(s);
            tag_sized(p, s);
            mine[i] = p;
        }
        pthread_barrier_wait(a->bar);
        /* partner: 1 .. threads-1 positions ahead, rotating */
        unsigned long off = 1 + round % (a->threads - 1);
        void **theirs = a->batches[(a->id + off) % a->threads];
        for (unsigned long i = 0; i < a->batch; i++) {
            check_sized(theirs[i]);
            free(theirs[i]);
        }
        pthread_barrier_wait(a->bar);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long threads = arg_ul0(argc, argv, 1, 0);
    unsigned long rounds = arg_ul(argc, argv, 2, 400);
    unsigned long batch = arg_ul(argc, argv, 3, 10000);
    if (threads == 0)
        threads = 2 * bench_ncpu();
    if (threads < 2)
        threads = 2;

    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    void ***batches = xmalloc(threads * sizeof *batches);
    pthread_t *tid = xmalloc(threads * sizeof *tid);
    worker_arg *args = xmalloc(threads * sizeof *args);
    for (unsigned long t = 0; t < threads; t++)
        batches[t] = xmalloc(batch * sizeof(void *));
    for (unsigned long t = 0; t < threads; t++) {
        args[t] = (worker_arg){.id = t, .threads = threads, .rounds = rounds, .batch = batch,
                               .batches = batches, .bar = &bar};
        if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&bar);
    double t0 = bench_now();
    for (unsigned long round = 0; round < rounds; round++) {
        pthread_barrier_wait(&bar);
        pthread_barrier_wait(&bar);
    }
    double el = bench_now() - t0;
    for (unsigned long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);

    double ops = (double)threads * (double)rounds * (double)batch;
    printf("threads=%lu\nrounds=%lu\nbatch=%lu\nops=%.0f\nelapsed_s=%.6f\nops_per_sec=%.0f\n",
           threads, rounds, batch, ops, el, ops / el);
    for (unsigned long t = 0; t < threads; t++)
        free(batches[t]);
    free(batches);
    free(tid);
    free(args);
    return 0;
}

/* mstress — short-lived threads allocate a burst, exchange some objects, exit.
 *
 * usage: mstress [threads=0 (= 2 x online CPUs)] [rounds=100] [burst=20000] [transfer=8192]
 *
 * Each round starts `threads` new threads at once.  Each thread mallocs a
 * burst of `burst` blocks (mixed small sizes 16 B..1 KiB, and 1 in 64 a
 * medium block of 1..32 KiB) and tags them.  Then it walks its burst: a
 * quarter of the blocks are swapped into random slots of a shared transfer
 * array (atomic exchange); whatever the slot held (a block allocated by a
 * thread of this or an earlier round, usually one that has already exited)
 * is checked and freed by this thread.  The rest of the burst is freed in
 * random order.  The thread exits; when all have, the next round's threads
 * start.  So heaps are created and torn down all the time, blocks outlive
 * the threads that allocated them, and frees of blocks from dead threads
 * are routine.
 *
 * Prints: threads, rounds, burst, threads_created, ops (blocks allocated),
 * elapsed_s, ops_per_sec.
 */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    unsigned long id, burst, transfer;
    _Atomic(void *) *slots;
    unsigned long round;
} worker_arg;

static size_t mstress_size(bench_rng *r)
{
    if (rng_next(r) % 64 == 0)
        return rng_range(r, 1024, 32768);
    return rng_mixed_size(r);
}

static void *worker(void *argp)
{
    worker_arg *a = argp;
    bench_rng r;
    rng_seed(&r, 9000 + a->round * 1000 + a->id);
    void **mine = xmalloc(a->burst * sizeof *mine);
    for (unsigned long i = 0; i < a->burst; i++) {
        size_t s = mstress_size(&r);
        mine[i] = xmalloc(s);
        tag_sized(mine[i], s);
    }
    unsigned long left = 0;
    for (unsigned long i = 0; i < a->burst; i++) {
        if (rng_next(&r) % 4 == 0) {
            unsigned long k = (unsigned long)(rng_next(&r) % a->transfer);
            void *old = atomic_exchange(&a->slots[k], mine[i]);
            if (old) {
                check_sized(old);
                free(old);
            }
        } else {
            mine[left++] = mine[i];
        }
    }
    for (unsigned long i = left; i > 1; i--) {
        unsigned long j = (unsigned long)(rng_next(&r) % i);
        void *t = mine[i - 1];
        mine[i - 1] = mine[j];
        mine[j] = t;
    }
    for (unsigned long i = 0; i < left; i++) {
        check_sized(mine[i]);
        free(mine[i]);
    }
    free(mine);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long threads = arg_ul0(argc, argv, 1, 0);
    unsigned long rounds = arg_ul(argc, argv, 2, 100);
    unsigned long burst = arg_ul(argc, argv, 3, 20000);
    unsigned long transfer = arg_ul(argc, argv, 4, 8192);
    if (threads == 0)
        threads = 2 * bench_ncpu();

    _Atomic(void *) *slots = xmalloc(transfer * sizeof *slots);
    for (unsigned long k = 0; k < transfer; k++)
        atomic_init(&slots[k], NULL);
    pthread_t *tid = xmalloc(threads * sizeof *tid);
    worker_arg *args = xmalloc(threads * sizeof *args);

    double t0 = bench_now();
    for (unsigned long round = 0; round < rounds; round++) {
        for (unsigned long t = 0; t < threads; t++) {
            args[t] = (worker_arg){.id = t, .burst = burst, .transfer = transfer,
                                   .slots = slots, .round = round};
            if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0)
                bench_die("pthread_create failed");
        }
        for (unsigned long t = 0; t < threads; t++)
            pthread_join(tid[t], NULL);
    }
    double el = bench_now() - t0;

    for (unsigned long k = 0; k < transfer; k++) {
        void *p = atomic_load(&slots[k]);
        if (p) {
            check_sized(p);
            free(p);
        }
    }
    double ops = (double)threads * (double)rounds * (double)burst;
    printf("threads=%lu\nrounds=%lu\nburst=%lu\nthreads_created=%lu\nops=%.0f\n", threads, rounds,
           burst, threads * rounds, ops);
    printf("elapsed_s=%.6f\nops_per_sec=%.0f\n", el, ops / el);
    free(slots);
    free(tid);
    free(args);
    return 0;
}

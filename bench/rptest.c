/* rptest — a general server mix: realistic sizes 16 B..1 MiB, several
 * threads, some cross-thread frees.
 *
 * usage: rptest [threads=0 (= online CPUs)] [ops_per_thread=3000000] [slots=2048] [remote_every=16]
 *
 * Each thread owns `slots` slots of live blocks.  One op picks a random
 * slot; its block is either freed (check + free) or, one time in
 * `remote_every`, pushed onto the inbox of another random thread, which
 * frees it later; then a new block is allocated into the slot.  Sizes:
 *   80%  16 B .. 512 B    log-uniform
 *   17%  512 B .. 16 KiB  log-uniform
 *    3%  16 KiB .. 1 MiB  log-uniform
 * so most traffic is small, but a few large blocks (and their page faults,
 * mmap/munmap or caching) are always part of the mix.  Every block is
 * tagged (first word, size word, last byte) and checked before it is freed.
 * Each thread drains its inbox (a lock-free stack linked through the
 * blocks themselves) every 64 ops and at the end.
 *
 * Prints: threads, ops (block replacements), remote_frees, elapsed_s,
 * ops_per_sec.
 */
#include "bench_common.h"

#include <pthread.h>
#include <stdatomic.h>

typedef struct {
    _Alignas(64) _Atomic(void *) head;
} inbox;

typedef struct {
    unsigned long id, threads, ops, slots, remote_every;
    inbox *boxes;
    pthread_barrier_t *bar;
    unsigned long remote;
} worker_arg;

/* Blocks in an inbox were checked when pushed; word 0 becomes the link. */
static void push(inbox *b, void *p)
{
    void *old = atomic_load_explicit(&b->head, memory_order_relaxed);
    do {
        memcpy(p, &old, sizeof old);
    } while (!atomic_compare_exchange_weak_explicit(&b->head, &old, p, memory_order_release,
                                                    memory_order_relaxed));
}

static void drain(inbox *b)
{
    void *p = atomic_exchange_explicit(&b->head, NULL, memory_order_acquire);
    while (p) {
        void *next;
        memcpy(&next, p, sizeof next);
        free(p);
        p = next;
    }
}

static void *worker(void *argp)
{
    worker_arg *a = argp;
    bench_rng r;
    rng_seed(&r, 11000 + a->id);
    void **ptr = xmalloc(a->slots * sizeof *ptr);
    for (unsigned long i = 0; i < a->slots; i++) {
        size_t s = rng_server_size(&r);
        ptr[i] = xmalloc(s);
        tag_sized(ptr[i], s);
    }
    pthread_barrier_wait(a->bar);
    for (unsigned long n = 0; n < a->ops; n++) {
        unsigned long i = (unsigned long)(rng_next(&r) % a->slots);
        check_sized(ptr[i]);
        if (a->threads > 1 && rng_next(&r) % a->remote_every == 0) {
            unsigned long to = (a->id + 1 + rng_next(&r) % (a->threads - 1)) % a->threads;
            push(&a->boxes[to], ptr[i]);
            a->remote++;
        } else {
            free(ptr[i]);
        }
        size_t s = rng_server_size(&r);
        ptr[i] = xmalloc(s);
        tag_sized(ptr[i], s);
        if ((n & 63) == 63)
            drain(&a->boxes[a->id]);
    }
    pthread_barrier_wait(a->bar); /* nobody pushes any more */
    drain(&a->boxes[a->id]);
    for (unsigned long i = 0; i < a->slots; i++) {
        check_sized(ptr[i]);
        free(ptr[i]);
    }
    free(ptr);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long threads = arg_ul0(argc, argv, 1, 0);
    unsigned long ops = arg_ul(argc, argv, 2, 3000000);
    unsigned long slots = arg_ul(argc, argv, 3, 2048);
    unsigned long remote_every = arg_ul(argc, argv, 4, 16);
    if (threads == 0)
        threads = bench_ncpu();

    pthread_barrier_t bar;
    pthread_barrier_init(&bar, NULL, (unsigned)threads + 1);
    inbox *boxes = aligned_alloc(64, threads * sizeof(inbox));
    if (!boxes)
        bench_die("aligned_alloc failed");
    for (unsigned long t = 0; t < threads; t++)
        atomic_init(&boxes[t].head, NULL);
    pthread_t *tid = xmalloc(threads * sizeof *tid);
    worker_arg *args = xmalloc(threads * sizeof *args);
    for (unsigned long t = 0; t < threads; t++) {
        args[t] = (worker_arg){.id = t, .threads = threads, .ops = ops, .slots = slots,
                               .remote_every = remote_every, .boxes = boxes, .bar = &bar};
        if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&bar);
    double t0 = bench_now();
    pthread_barrier_wait(&bar);
    double el = bench_now() - t0;
    unsigned long remote = 0;
    for (unsigned long t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        remote += args[t].remote;
    }
    double total = (double)threads * (double)ops;
    printf("threads=%lu\nops=%.0f\nremote_frees=%lu\nelapsed_s=%.6f\nops_per_sec=%.0f\n", threads,
           total, remote, el, total / el);
    free(boxes);
    free(tid);
    free(args);
    return 0;
}

/* larson — a simple larson-style server simulation (own implementation).
 *
 * usage: larson [lanes=2] [generations=400] [ops_per_gen=100000] [slots=1000]
 *
 * Each of `lanes` concurrent lanes owns an array of `slots` live blocks.  A
 * lane runs `generations` worker threads one after another: each worker
 * replaces `ops_per_gen` random blocks with new ones of a random size in
 * 16..1024 B (uniform), then exits and the array is handed to a freshly
 * created thread.  So most frees hit blocks allocated by a thread that has
 * already exited (as in a server whose connection threads come and go), and
 * the allocator's per-thread state is created and torn down constantly.
 *
 * Prints: lanes, threads_created, ops, elapsed_s, ops_per_sec (block
 * replacements per second, total over all lanes).
 */
#include "bench_common.h"

#include <pthread.h>

typedef struct {
    unsigned long id, generations, ops_per_gen, slots;
    void **ptr;
    size_t *sz;
    bench_rng rng;
    pthread_barrier_t *start;
} lane;

static void *worker(void *argp)
{
    lane *l = argp;
    for (unsigned long n = 0; n < l->ops_per_gen; n++) {
        unsigned long i = (unsigned long)(rng_next(&l->rng) % l->slots);
        check_block(l->ptr[i], l->sz[i]);
        free(l->ptr[i]);
        l->sz[i] = rng_range(&l->rng, 16, 1024);
        l->ptr[i] = xmalloc(l->sz[i]);
        tag_block(l->ptr[i], l->sz[i]);
    }
    return NULL;
}

static void *lane_main(void *argp)
{
    lane *l = argp;
    rng_seed(&l->rng, 3000 + l->id);
    l->ptr = xmalloc(l->slots * sizeof *l->ptr);
    l->sz = xmalloc(l->slots * sizeof *l->sz);
    for (unsigned long i = 0; i < l->slots; i++) {
        l->sz[i] = rng_range(&l->rng, 16, 1024);
        l->ptr[i] = xmalloc(l->sz[i]);
        tag_block(l->ptr[i], l->sz[i]);
    }
    pthread_barrier_wait(l->start);
    for (unsigned long g = 0; g < l->generations; g++) {
        pthread_t t;
        if (pthread_create(&t, NULL, worker, l) != 0)
            bench_die("pthread_create failed");
        pthread_join(t, NULL);
    }
    for (unsigned long i = 0; i < l->slots; i++) {
        check_block(l->ptr[i], l->sz[i]);
        free(l->ptr[i]);
    }
    free(l->ptr);
    free(l->sz);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long lanes = arg_ul(argc, argv, 1, 2);
    unsigned long gens = arg_ul(argc, argv, 2, 400);
    unsigned long ops = arg_ul(argc, argv, 3, 100000);
    unsigned long slots = arg_ul(argc, argv, 4, 1000);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)lanes + 1);
    lane *ls = xmalloc(lanes * sizeof *ls);
    pthread_t *tid = xmalloc(lanes * sizeof *tid);
    for (unsigned long i = 0; i < lanes; i++) {
        ls[i] = (lane){.id = i, .generations = gens, .ops_per_gen = ops, .slots = slots,
                       .start = &start};
        if (pthread_create(&tid[i], NULL, lane_main, &ls[i]) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    for (unsigned long i = 0; i < lanes; i++)
        pthread_join(tid[i], NULL);
    double el = bench_now() - t0;

    double total = (double)lanes * (double)gens * (double)ops;
    printf("lanes=%lu\nthreads_created=%lu\nops=%.0f\nelapsed_s=%.6f\nops_per_sec=%.0f\n", lanes,
           lanes * gens, total, el, total / el);
    free(ls);
    free(tid);
    return 0;
}

/* cache_scratch — passive false sharing: objects handed between threads,
 * then written in tight loops.
 *
 * usage: cache_scratch [threads=0 (= online CPUs)] [iterations=400] [writes=100000] [objsize=8]
 *
 * The main thread mallocs one `objsize`-byte object per worker, one after
 * the other (so with most allocators they sit side by side, several in one
 * 64-byte cache line), and hands object t to worker t.  Each worker frees
 * the object it was given, then `iterations` times: mallocs an object of
 * the same size, writes every byte of it `writes` times in a tight loop,
 * and frees it.  An allocator that gives a worker back the block it just
 * freed (which came from the main thread's line) makes the workers write to
 * the same cache line from different cores: every write then waits for the
 * line to move between cores, which shows at once in the elapsed time.
 * An allocator that returns a remotely freed block to its owner, or keeps
 * each thread's objects on their own pages, does not.
 *
 * Also reports shared_line_pairs: pairs of workers whose object of the
 * first iteration lay in the same cache line (0 = no false sharing).
 *
 * Prints: threads, iterations, writes, objsize, shared_line_pairs,
 * elapsed_s, ops_per_sec (byte writes per second, all workers together).
 */
#include "bench_common.h"

#include <pthread.h>

typedef struct {
    unsigned long id, iterations, writes, objsize;
    void *given;
    uintptr_t first_line;
    pthread_barrier_t *start;
} worker_arg;

static void *worker(void *argp)
{
    worker_arg *a = argp;
    pthread_barrier_wait(a->start);
    check_any(a->given, a->objsize);
    free(a->given);
    for (unsigned long it = 0; it < a->iterations; it++) {
        volatile unsigned char *p = xmalloc(a->objsize);
        if (it == 0)
            a->first_line = (uintptr_t)p / 64;
        for (unsigned long w = 0; w < a->writes; w++)
            for (unsigned long j = 0; j < a->objsize; j++)
                p[j] = (unsigned char)(p[j] + 1);
        free((void *)p);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long threads = arg_ul0(argc, argv, 1, 0);
    unsigned long iterations = arg_ul(argc, argv, 2, 400);
    unsigned long writes = arg_ul(argc, argv, 3, 100000);
    unsigned long objsize = arg_ul(argc, argv, 4, 8);
    if (threads == 0)
        threads = bench_ncpu();

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)threads + 1);
    pthread_t *tid = xmalloc(threads * sizeof *tid);
    worker_arg *args = xmalloc(threads * sizeof *args);
    for (unsigned long t = 0; t < threads; t++) {
        void *obj = xmalloc(objsize);
        tag_any(obj, objsize);
        args[t] = (worker_arg){.id = t, .iterations = iterations, .writes = writes,
                               .objsize = objsize, .given = obj, .start = &start};
    }
    for (unsigned long t = 0; t < threads; t++)
        if (pthread_create(&tid[t], NULL, worker, &args[t]) != 0)
            bench_die("pthread_create failed");
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    for (unsigned long t = 0; t < threads; t++)
        pthread_join(tid[t], NULL);
    double el = bench_now() - t0;

    unsigned long pairs = 0;
    for (unsigned long i = 0; i < threads; i++)
        for (unsigned long j = i + 1; j < threads; j++)
            if (args[i].first_line == args[j].first_line)
                pairs++;
    double ops = (double)threads * (double)iterations * (double)writes * (double)objsize;
    printf("threads=%lu\niterations=%lu\nwrites=%lu\nobjsize=%lu\nshared_line_pairs=%lu\n",
           threads, iterations, writes, objsize, pairs);
    printf("elapsed_s=%.6f\nops_per_sec=%.0f\n", el, ops / el);
    free(tid);
    free(args);
    return 0;
}

/* prodcons — producer allocates, consumer frees (cross-thread free).
 *
 * usage: prodcons [objects=30000000] [pairs=1] [queue=4096]
 *
 * Each pair is one producer thread that mallocs blocks of 16..512 B (uniform),
 * tags them and pushes the pointers through a bounded single-producer /
 * single-consumer ring, and one consumer thread that pops, checks and frees
 * them.  Every free is therefore a remote free: this measures how the
 * allocator returns memory to the owning thread/heap and how well it copes
 * with one thread only allocating and another only freeing.
 *
 * Prints: pairs, objects, elapsed_s, ops_per_sec (objects transferred per
 * second, total over all pairs).
 */
#include "bench_common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

typedef struct {
    void *p;
    size_t size;
} item;

typedef struct {
    _Alignas(64) _Atomic unsigned long head; /* written by consumer */
    _Alignas(64) _Atomic unsigned long tail; /* written by producer */
    _Alignas(64) _Atomic int prod_waiting, cons_waiting;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    _Alignas(64) unsigned long cap;
    item *buf;
    unsigned long objects;
    unsigned long id;
    pthread_barrier_t *start;
} queue;

/* Waiting: spin briefly, then yield a few times, then sleep on the condition
 * variable until the other side signals progress.  Sleeping (rather than
 * spinning forever) keeps the result from depending on whether the two
 * threads happen to share a CPU of the (virtual) machine. */
static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
}

/* Block until ready(q) is true.  `me` is this side's waiting flag. */
static void wait_until(queue *q, _Atomic int *me, int (*ready)(queue *))
{
    for (unsigned spins = 0; spins < 256; spins++) {
        if (ready(q))
            return;
        if (spins < 200)
            cpu_relax();
        else
            sched_yield();
    }
    pthread_mutex_lock(&q->lock);
    atomic_store(me, 1); /* seq_cst: pairs with the other side's store + load */
    while (!ready(q))
        pthread_cond_wait(&q->cv, &q->lock);
    atomic_store(me, 0);
    pthread_mutex_unlock(&q->lock);
}

/* Called after publishing progress: wake the other side if it sleeps. */
static inline void wake(queue *q, _Atomic int *other)
{
    if (atomic_load(other)) {
        pthread_mutex_lock(&q->lock);
        pthread_cond_broadcast(&q->cv);
        pthread_mutex_unlock(&q->lock);
    }
}

static int not_full(queue *q)
{
    return atomic_load(&q->tail) - atomic_load(&q->head) < q->cap;
}

static int not_empty(queue *q)
{
    return atomic_load(&q->tail) != atomic_load(&q->head);
}

static void *producer(void *argp)
{
    queue *q = argp;
    bench_rng r;
    rng_seed(&r, 2000 + q->id);
    unsigned long tail = 0, head_cache = 0;
    pthread_barrier_wait(q->start);
    for (unsigned long n = 0; n < q->objects; n++) {
        size_t size = rng_range(&r, 16, 512);
        void *p = xmalloc(size);
        tag_block(p, size);
        if (tail - head_cache >= q->cap) {
            head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
            if (tail - head_cache >= q->cap) {
                wait_until(q, &q->prod_waiting, not_full);
                head_cache = atomic_load_explicit(&q->head, memory_order_acquire);
            }
        }
        q->buf[tail % q->cap] = (item){p, size};
        tail++;
        atomic_store(&q->tail, tail);
        wake(q, &q->cons_waiting);
    }
    return NULL;
}

static void *consumer(void *argp)
{
    queue *q = argp;
    unsigned long head = 0, tail_cache = 0;
    pthread_barrier_wait(q->start);
    while (head < q->objects) {
        if (head == tail_cache) {
            tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
            if (head == tail_cache) {
                wait_until(q, &q->cons_waiting, not_empty);
                tail_cache = atomic_load_explicit(&q->tail, memory_order_acquire);
            }
        }
        /* drain everything that is visible, then publish the new head */
        while (head < tail_cache) {
            item it = q->buf[head % q->cap];
            check_block(it.p, it.size);
            free(it.p);
            head++;
        }
        atomic_store(&q->head, head);
        wake(q, &q->prod_waiting);
    }
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned long objects = arg_ul(argc, argv, 1, 30000000);
    unsigned long pairs = arg_ul(argc, argv, 2, 1);
    unsigned long cap = arg_ul(argc, argv, 3, 4096);

    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, (unsigned)(2 * pairs + 1));
    queue *qs = aligned_alloc(64, pairs * sizeof(queue));
    if (!qs)
        bench_die("aligned_alloc failed");
    pthread_t *tid = xmalloc(2 * pairs * sizeof *tid);
    for (unsigned long i = 0; i < pairs; i++) {
        queue *q = &qs[i];
        atomic_init(&q->head, 0);
        atomic_init(&q->tail, 0);
        atomic_init(&q->prod_waiting, 0);
        atomic_init(&q->cons_waiting, 0);
        pthread_mutex_init(&q->lock, NULL);
        pthread_cond_init(&q->cv, NULL);
        q->cap = cap;
        q->buf = xmalloc(cap * sizeof(item));
        q->objects = objects;
        q->id = i;
        q->start = &start;
        if (pthread_create(&tid[2 * i], NULL, producer, q) != 0 ||
            pthread_create(&tid[2 * i + 1], NULL, consumer, q) != 0)
            bench_die("pthread_create failed");
    }
    pthread_barrier_wait(&start);
    double t0 = bench_now();
    for (unsigned long i = 0; i < 2 * pairs; i++)
        pthread_join(tid[i], NULL);
    double el = bench_now() - t0;

    double total = (double)objects * (double)pairs;
    printf("pairs=%lu\nobjects=%.0f\nelapsed_s=%.6f\nops_per_sec=%.0f\n", pairs, total, el,
           total / el);
    for (unsigned long i = 0; i < pairs; i++)
        free(qs[i].buf);
    free(qs);
    free(tid);
    return 0;
}

// expect: exit 0
/* thread_churn: thousands of short-lived threads.
 *
 * Usage: thread_churn [WAVES]   (default 600 waves of 8 joinable + 2
 *                                detached threads = 6000 threads)
 *
 * Each thread mallocs/frees a few hundred blocks, leaves some blocks behind
 * for the main thread (which frees them after the thread has exited, some
 * only several waves later), and sets a pthread key whose destructor
 * verifies its value, mallocs and frees, hands one more block to the main
 * thread, and sometimes re-arms the key (a second destructor round, which
 * glibc runs after the first).  Key destructors run after the thread's start
 * routine but before glibc tears down the thread's malloc state, so the
 * allocator must cope with allocations at that point.  Detached threads do
 * the same and hand their blocks over through a list.  All handed-over
 * blocks are pattern-checked by the main thread.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

#define WAVE 8
#define DETACHED_PER_WAVE 2
#define LEAVE 6      /* blocks each joinable thread leaves for main */
#define KEEP_WAVES 3 /* main frees a wave's leftovers this many waves later */

struct item {
    void *p;
    size_t n;
    uint64_t seed;
};

/* Mutex-protected list of handed-over blocks (from destructors and detached
 * threads). */
struct node {
    struct node *next;
    struct item it;
};
static pthread_mutex_t list_lock = PTHREAD_MUTEX_INITIALIZER;
static struct node *list_head;
static unsigned long list_pushed, list_popped;

static pthread_key_t key;
static atomic_ulong dtor_calls, dtor_second_round;
static atomic_int live_detached;

struct kval {
    uint64_t seed;
    unsigned id;
    int round;
    int detached;
    size_t n;
    unsigned char data[];
};

struct targ {
    unsigned id;
    int detached;
    struct item leave[LEAVE];
};

static void make_item(struct item *it, size_t n, uint64_t seed)
{
    it->p = malloc(n);
    CHECK(it->p != NULL, "malloc(%zu)", n);
    it->n = n;
    it->seed = mix64(seed ^ (uint64_t)(uintptr_t)it->p);
    fill_pattern(it->p, n, it->seed);
}

static void check_free(struct item *it, const char *ctx)
{
    CHECK_PATTERN(it->p, it->n, it->seed, "%s: block corrupted", ctx);
    free(it->p);
    it->p = NULL;
}

static void list_push(struct item *it)
{
    struct node *nd = malloc(sizeof *nd);
    CHECK(nd != NULL, "malloc(node)");
    nd->it = *it;
    pthread_mutex_lock(&list_lock);
    nd->next = list_head;
    list_head = nd;
    list_pushed++;
    pthread_mutex_unlock(&list_lock);
}

static void list_drain(void)
{
    pthread_mutex_lock(&list_lock);
    struct node *nd = list_head;
    list_head = NULL;
    pthread_mutex_unlock(&list_lock);
    while (nd) {
        struct node *next = nd->next;
        check_free(&nd->it, "block handed over via list");
        free(nd);
        pthread_mutex_lock(&list_lock);
        list_popped++;
        pthread_mutex_unlock(&list_lock);
        nd = next;
    }
}

static struct kval *new_kval(unsigned id, int round, int detached)
{
    size_t n = 16 + (id * 37 + (unsigned)round * 101) % 3000;
    struct kval *v = malloc(sizeof *v + n);
    CHECK(v != NULL, "malloc(kval)");
    v->id = id;
    v->round = round;
    v->detached = detached;
    v->n = n;
    v->seed = mix64(((uint64_t)id << 8) | (uint64_t)round);
    fill_pattern(v->data, n, v->seed);
    return v;
}

static void key_dtor(void *arg)
{
    struct kval *v = arg;
    CHECK_PATTERN(v->data, v->n, v->seed, "thread %u: key value corrupted", v->id);
    atomic_fetch_add(&dtor_calls, 1);

    /* malloc/free inside the destructor */
    void *tmp[16];
    for (int i = 0; i < 16; i++) {
        tmp[i] = malloc((size_t)(i * 97 % 1500) + 1);
        CHECK(tmp[i] != NULL, "malloc in key destructor");
        memset(tmp[i], i, (size_t)(i * 97 % 1500) + 1);
    }
    for (int i = 15; i >= 0; i--)
        free(tmp[i]);

    /* hand a block allocated here to the main thread */
    struct item it;
    make_item(&it, (size_t)(v->id % 2000) + 1 + (v->id % 13 == 0 ? 100000 : 0),
              0xd70 + v->id);
    list_push(&it);

    int rearm = v->round == 0 && v->id % 3 == 0;
    unsigned id = v->id;
    int round = v->round, detached = v->detached;
    free(v);
    if (rearm) {
        /* A value set during destruction gets another destructor round. */
        CHECK(pthread_setspecific(key, new_kval(id, round + 1, detached)) == 0,
              "setspecific");
        return;
    }
    if (round > 0)
        atomic_fetch_add(&dtor_second_round, 1);
    if (detached)
        atomic_fetch_sub(&live_detached, 1); /* last thing this thread does */
}

static void thread_work(struct targ *a)
{
    rng_t r;
    rng_seed(&r, a->id);
    struct item local[32];
    memset(local, 0, sizeof local);
    int iters = 150 + (int)rng_below(&r, 150);
    for (int i = 0; i < iters; i++) {
        struct item *s = &local[rng_below(&r, 32)];
        if (s->p)
            check_free(s, "thread-local block");
        size_t n = rng_below(&r, 50) == 0 ? (size_t)rng_range(&r, 4097, 100000)
                                          : (size_t)rng_range(&r, 1, 2048);
        make_item(s, n, ((uint64_t)a->id << 20) + (uint64_t)i);
    }
    for (int i = 0; i < 32; i++)
        if (local[i].p)
            check_free(&local[i], "thread-local block (final)");
    CHECK(pthread_setspecific(key, new_kval(a->id, 0, a->detached)) == 0, "setspecific");
}

static void *joinable_main(void *arg)
{
    struct targ *a = arg;
    thread_work(a);
    for (int i = 0; i < LEAVE; i++)
        make_item(&a->leave[i], (size_t)(a->id * 7 + (unsigned)i * 500) % 5000 + 1,
                  0x1eaf0000 + (uint64_t)a->id * LEAVE + (uint64_t)i);
    return NULL;
}

static void *detached_main(void *arg)
{
    struct targ *a = arg;
    thread_work(a);
    for (int i = 0; i < LEAVE; i++) {
        struct item it;
        make_item(&it, (size_t)(a->id * 13 + (unsigned)i * 333) % 3000 + 1,
                  0xde7ac4ed + (uint64_t)a->id * LEAVE + (uint64_t)i);
        list_push(&it);
    }
    free(a);
    return NULL;
}

int main(int argc, char **argv)
{
    int waves = argc > 1 ? atoi(argv[1]) : 600;
    CHECK(waves > 0, "bad wave count");
    watchdog(60);
    CHECK(pthread_key_create(&key, key_dtor) == 0, "pthread_key_create");

    static struct targ args[KEEP_WAVES + 1][WAVE];
    pthread_attr_t det;
    pthread_attr_init(&det);
    pthread_attr_setdetachstate(&det, PTHREAD_CREATE_DETACHED);

    unsigned next_id = 1;
    unsigned long joinable = 0, detached = 0, rearmed = 0;
    for (int w = 0; w < waves; w++) {
        struct targ *wa = args[w % (KEEP_WAVES + 1)];
        /* Free the leftovers of the wave that used this slot KEEP_WAVES
         * waves ago (those threads are long gone). */
        if (w > KEEP_WAVES)
            for (int i = 0; i < WAVE; i++)
                for (int j = 0; j < LEAVE; j++)
                    check_free(&wa[i].leave[j], "block left by an exited thread");
        pthread_t th[WAVE];
        for (int i = 0; i < WAVE; i++) {
            wa[i].id = next_id++;
            wa[i].detached = 0;
            if (wa[i].id % 3 == 0)
                rearmed++;
            CHECK(pthread_create(&th[i], NULL, joinable_main, &wa[i]) == 0,
                  "pthread_create (wave %d)", w);
        }
        for (int i = 0; i < DETACHED_PER_WAVE; i++) {
            struct targ *d = calloc(1, sizeof *d);
            CHECK(d != NULL, "calloc");
            d->id = next_id++;
            d->detached = 1;
            if (d->id % 3 == 0)
                rearmed++;
            atomic_fetch_add(&live_detached, 1);
            pthread_t dt;
            CHECK(pthread_create(&dt, &det, detached_main, d) == 0,
                  "pthread_create (detached)");
            detached++;
        }
        for (int i = 0; i < WAVE; i++)
            CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
        joinable += WAVE;
        if (w % 4 == 0)
            list_drain();
    }
    /* Leftovers of the last waves. */
    for (int w = waves > KEEP_WAVES + 1 ? waves - KEEP_WAVES - 1 : 0; w < waves; w++)
        for (int i = 0; i < WAVE; i++)
            for (int j = 0; j < LEAVE; j++)
                check_free(&args[w % (KEEP_WAVES + 1)][i].leave[j],
                           "block left by an exited thread");

    /* Wait for the detached threads to get through their key destructors. */
    for (int spins = 0; atomic_load(&live_detached) > 0; spins++) {
        struct timespec ts = {0, 1000000};
        nanosleep(&ts, NULL);
        CHECK(spins < 60000, "detached threads did not finish");
    }
    list_drain();
    CHECK(list_pushed == list_popped, "pushed %lu, popped %lu", list_pushed,
          list_popped);
    unsigned long total = joinable + detached;
    unsigned long calls = atomic_load(&dtor_calls);
    CHECK(calls == total + rearmed, "key destructor ran %lu times, expected %lu", calls,
          total + rearmed);
    CHECK(atomic_load(&dtor_second_round) == rearmed,
          "second destructor round ran %lu times, expected %lu",
          (unsigned long)atomic_load(&dtor_second_round), rearmed);
    printf("threads: %lu joinable, %lu detached; key destructor calls %lu; "
           "blocks handed over %lu\n",
           joinable, detached, calls, list_pushed + joinable * LEAVE);
    ok("thread_churn");
    return 0;
}

// expect: exit 0
/* thread_exit_free: malloc/free racing with thread termination, and
 * allocations made by thread-exit destructors.
 *
 * Part A ports glibc's tst-malloc-thread-exit: two outer threads repeatedly
 * start and join inner threads of two kinds -- one allocates and then waits
 * on a barrier before freeing, the other waits and then allocates/frees --
 * so thread exit races with allocation in other threads.  In addition some
 * inner threads leave a block that the outer thread frees after joining them.
 *
 * Part B: threads allocate from C11-style thread_local destructors
 * (registered with __cxa_thread_atexit_impl, which is what C++ thread_local
 * and Rust thread_local use) and from pthread key destructors.  glibc runs
 * these after the start routine returns, TLS destructors before key
 * destructors, and only then releases the thread's malloc state.  One TLS
 * destructor is registered before the thread's first malloc and one after,
 * so they run on both sides of any destructor the allocator itself may have
 * registered.  The destructors free blocks allocated by the thread body,
 * allocate new ones, free some, and hand others to the main thread, which
 * verifies and frees them after the thread has exited.
 *
 * Part C: memory freed after its allocating thread exited must be reusable:
 * ~1 GiB is allocated over 1500 short-lived threads and freed by other
 * threads; resident memory must stay well below that.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

extern int __cxa_thread_atexit_impl(void (*func)(void *), void *obj, void *dso);
extern void *__dso_handle;

struct item {
    void *p;
    size_t n;
    uint64_t seed;
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
    CHECK(it->p != NULL, "%s: missing block", ctx);
    CHECK_PATTERN(it->p, it->n, it->seed, "%s: block corrupted", ctx);
    free(it->p);
    it->p = NULL;
}

/* ------------------------------------------------------------- Part A */

#define INNER 4
#define OUTER 2
#define A_ITERS 150

struct inner_arg {
    pthread_barrier_t *barrier;
    struct item left; /* block left behind for the outer thread */
    unsigned id;
};

static void *malloc_first_thread(void *closure)
{
    struct inner_arg *a = closure;
    void *volatile ptr = malloc(32);
    CHECK(ptr != NULL, "malloc(32)");
    make_item(&a->left, 32 + a->id % 200, a->id);
    pthread_barrier_wait(a->barrier);
    free(ptr);
    return NULL;
}

static void *wait_first_thread(void *closure)
{
    struct inner_arg *a = closure;
    pthread_barrier_wait(a->barrier);
    void *volatile ptr = malloc(32);
    CHECK(ptr != NULL, "malloc(32)");
    free(ptr);
    a->left.p = NULL;
    return NULL;
}

static void *outer_thread(void *closure)
{
    unsigned base = (unsigned)(uintptr_t)closure;
    pthread_t *threads = calloc(INNER, sizeof *threads);
    struct inner_arg *args = calloc(INNER, sizeof *args);
    CHECK(threads && args, "calloc");
    for (int it = 0; it < A_ITERS; it++) {
        pthread_barrier_t barrier;
        pthread_barrier_init(&barrier, NULL, INNER + 1);
        for (int i = 0; i < INNER; i++) {
            args[i].barrier = &barrier;
            args[i].id = base + (unsigned)(it * INNER + i);
            CHECK(pthread_create(&threads[i], NULL,
                                 i % 2 == 0 ? malloc_first_thread : wait_first_thread,
                                 &args[i]) == 0,
                  "pthread_create");
        }
        pthread_barrier_wait(&barrier);
        for (int i = 0; i < INNER; i++)
            CHECK(pthread_join(threads[i], NULL) == 0, "pthread_join");
        pthread_barrier_destroy(&barrier);
        /* Free what the (now exited) inner threads left behind. */
        for (int i = 0; i < INNER; i++)
            if (args[i].left.p)
                check_free(&args[i].left, "block left by an exited inner thread");
    }
    free(threads);
    free(args);
    return NULL;
}

static void part_a(void)
{
    pthread_t outer[OUTER];
    for (long i = 0; i < OUTER; i++)
        CHECK(pthread_create(&outer[i], NULL, outer_thread, (void *)(i * 1000000)) == 0,
              "pthread_create");
    for (int i = 0; i < OUTER; i++)
        CHECK(pthread_join(outer[i], NULL) == 0, "pthread_join");
}

/* ------------------------------------------------------------- Part B */

#define B_THREADS 800
#define B_WAVE 4
#define HAND_PER_THREAD 3

struct bthread {
    unsigned id;
    struct item body;            /* allocated by the body, freed by a TLS dtor */
    struct item hand[HAND_PER_THREAD]; /* allocated by dtors, freed by main */
    atomic_int early_ran, late_ran, key_ran;
};

static __thread struct bthread *tls_self;
static __thread void *tls_block; /* malloc'd in the body, freed by TLS dtor */
static pthread_key_t bkey;
static atomic_ulong dtor_mallocs;

static void dtor_churn(unsigned id)
{
    void *tmp[8];
    for (int i = 0; i < 8; i++) {
        size_t n = (size_t)((id + (unsigned)i) * 131 % 4000) + 1;
        tmp[i] = malloc(n);
        CHECK(tmp[i] != NULL, "malloc in destructor");
        memset(tmp[i], 0xcd, n);
    }
    for (int i = 0; i < 8; i++)
        free(tmp[(i * 3) % 8]);
    atomic_fetch_add(&dtor_mallocs, 8);
}

/* Registered before the thread's first malloc: runs last of the TLS dtors. */
static void tls_dtor_early(void *obj)
{
    struct bthread *b = obj;
    CHECK(atomic_load(&b->late_ran) == 1, "TLS destructors ran in the wrong order");
    dtor_churn(b->id);
    make_item(&b->hand[0], (size_t)(b->id % 500) + 1, 0xea71 + b->id);
    atomic_store(&b->early_ran, 1);
}

/* Registered after the thread has malloc'd: runs first. */
static void tls_dtor_late(void *obj)
{
    struct bthread *b = obj;
    CHECK(tls_self == b, "thread-local variable lost before TLS destructor");
    check_free(&b->body, "body block freed in TLS destructor");
    CHECK(tls_block != NULL, "tls_block");
    CHECK_PATTERN(tls_block, 777, b->id, "__thread-owned block corrupted");
    free(tls_block);
    tls_block = NULL;
    dtor_churn(b->id + 1);
    make_item(&b->hand[1], (size_t)(b->id % 70) * 1000 + 1, 0x1a7e + b->id);
    atomic_store(&b->late_ran, 1);
}

static void key_dtor(void *obj)
{
    struct bthread *b = obj;
    /* TLS destructors have already run at this point in glibc. */
    CHECK(atomic_load(&b->early_ran) == 1 && atomic_load(&b->late_ran) == 1,
          "key destructor ran before TLS destructors");
    dtor_churn(b->id + 2);
    make_item(&b->hand[2], (size_t)(b->id % 33) * 100 + 7, 0x6e7 + b->id);
    atomic_store(&b->key_ran, 1);
}

static void *bthread_main(void *arg)
{
    struct bthread *b = arg;
    /* Note: registering itself may allocate (glibc callocs a list node). */
    CHECK(__cxa_thread_atexit_impl(tls_dtor_early, b, &__dso_handle) == 0,
          "__cxa_thread_atexit_impl");
    tls_self = b;
    make_item(&b->body, (size_t)(b->id % 3000) + 1, 0xb0d7 + b->id);
    tls_block = malloc(777);
    CHECK(tls_block != NULL, "malloc");
    fill_pattern(tls_block, 777, b->id);
    for (int i = 0; i < 50; i++) {
        void *p = malloc((size_t)(i * 41 % 2000) + 1);
        CHECK(p != NULL, "malloc");
        free(p);
    }
    CHECK(__cxa_thread_atexit_impl(tls_dtor_late, b, &__dso_handle) == 0,
          "__cxa_thread_atexit_impl");
    CHECK(pthread_setspecific(bkey, b) == 0, "pthread_setspecific");
    return NULL;
}

static void part_b(void)
{
    CHECK(pthread_key_create(&bkey, key_dtor) == 0, "pthread_key_create");
    struct bthread *bs = calloc(B_WAVE, sizeof *bs);
    CHECK(bs != NULL, "calloc");
    for (int w = 0; w < B_THREADS / B_WAVE; w++) {
        pthread_t th[B_WAVE];
        for (int i = 0; i < B_WAVE; i++) {
            memset(&bs[i], 0, sizeof bs[i]);
            bs[i].id = (unsigned)(w * B_WAVE + i);
            CHECK(pthread_create(&th[i], NULL, bthread_main, &bs[i]) == 0,
                  "pthread_create");
        }
        for (int i = 0; i < B_WAVE; i++) {
            CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
            CHECK(bs[i].early_ran && bs[i].late_ran && bs[i].key_ran,
                  "thread %u: destructors did not all run (early %d late %d key %d)",
                  bs[i].id, bs[i].early_ran, bs[i].late_ran, bs[i].key_ran);
            for (int j = 0; j < HAND_PER_THREAD; j++)
                check_free(&bs[i].hand[j], "block allocated by a thread-exit destructor");
        }
    }
    free(bs);
}

/* ------------------------------------------------------------- Part C */

#define C_THREADS 1500
#define C_BLOCKS 128
#define C_BLOCK_SIZE 4096 /* ~0.75 MiB per thread */

struct cthread {
    struct item blocks[C_BLOCKS];
    unsigned id;
};

static void *c_alloc_main(void *arg)
{
    struct cthread *c = arg;
    for (int i = 0; i < C_BLOCKS; i++) {
        size_t n = i % 16 == 0 ? 8 * C_BLOCK_SIZE : C_BLOCK_SIZE - (size_t)(i * 13 % 200);
        make_item(&c->blocks[i], n, ((uint64_t)c->id << 8) + (uint64_t)i);
    }
    return NULL;
}

static void *c_free_main(void *arg)
{
    struct cthread *c = arg;
    for (int i = C_BLOCKS - 1; i >= 0; i--)
        check_free(&c->blocks[i], "block freed by another thread after owner exit");
    return NULL;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (!f)
        return 0;
    if (fscanf(f, "%lu %lu", &size, &res) != 2)
        res = 0;
    fclose(f);
    return res * (size_t)sysconf(_SC_PAGESIZE);
}

static void part_c(void)
{
    struct cthread *cs = calloc(2, sizeof *cs);
    CHECK(cs != NULL, "calloc");
    size_t total = 0, peak = 0;
    for (int t = 0; t < C_THREADS; t++) {
        struct cthread *c = &cs[t % 2];
        pthread_t a, f;
        c->id = (unsigned)t;
        CHECK(pthread_create(&a, NULL, c_alloc_main, c) == 0, "pthread_create");
        CHECK(pthread_join(a, NULL) == 0, "pthread_join");
        for (int i = 0; i < C_BLOCKS; i++)
            total += c->blocks[i].n;
        /* Freed by a different, new thread after the allocator exited. */
        CHECK(pthread_create(&f, NULL, c_free_main, c) == 0, "pthread_create");
        CHECK(pthread_join(f, NULL) == 0, "pthread_join");
        if (t % 50 == 49) {
            size_t r = rss_bytes();
            if (r > peak)
                peak = r;
        }
    }
    free(cs);
    printf("part C: %zu MiB allocated and freed across threads, peak RSS %zu MiB\n",
           total >> 20, peak >> 20);
    CHECK(peak < ((size_t)200 << 20),
          "peak RSS %zu MiB: memory freed after its thread exited is not reused",
          peak >> 20);
}

int main(void)
{
    watchdog(60);
    part_a();
    part_b();
    part_c();
    printf("destructor mallocs: %lu\n", (unsigned long)atomic_load(&dtor_mallocs));
    ok("thread_exit_free");
    return 0;
}

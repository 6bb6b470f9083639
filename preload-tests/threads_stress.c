// expect: exit 0
// args: 8 120000
/* threads_stress: many threads allocating, handing blocks to each other,
 * and freeing them remotely.
 *
 * Usage: threads_stress [NTHREADS [OPS_PER_THREAD]]   (default 8, 120000)
 *
 * Each thread performs a fixed number of random operations:
 *  - allocate (malloc / calloc / posix_memalign / aligned_alloc) a block of
 *    1..4096 bytes (sometimes 4 KiB..64 KiB, sometimes 64 KiB..1 MiB), fill
 *    it with a pattern derived from (thread id, sequence number, address);
 *  - about half the blocks go to a random other thread through its
 *    mutex-protected inbox; the receiver verifies the pattern and frees it
 *    (or reallocs it first and keeps it);
 *  - the rest stay in a per-thread table, from which random blocks are
 *    verified and freed or realloc'd;
 * at the end every thread frees its table in random order, all threads
 * meet at a barrier, and drain their inboxes.  Allocation and free counts
 * must balance.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>

struct item {
    void *p;
    size_t n;
    uint64_t seed;
};

#define INBOX_CAP 2048
struct inbox {
    pthread_mutex_t lock;
    size_t head, count;
    struct item items[INBOX_CAP];
};

#define LOCAL_CAP 384

struct thread {
    pthread_t th;
    unsigned id;
    rng_t rng;
    uint64_t seq;
    struct item local[LOCAL_CAP];
    unsigned long sent, received, self_freed;
};

static unsigned nthreads = 8;
static unsigned long ops_per_thread = 120000;
static struct inbox *inboxes;
static struct thread *threads;
static pthread_barrier_t barrier;
static atomic_ulong n_alloc, n_free;

static uint64_t make_seed(struct thread *t, void *p)
{
    return mix64(((uint64_t)t->id << 48) ^ (t->seq++ << 1) ^ (uint64_t)(uintptr_t)p);
}

static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 1000);
    if (x < 880)
        return (size_t)rng_range(r, 1, 4096);
    if (x < 980)
        return (size_t)rng_range(r, 4097, 65536);
    if (x < 998)
        return (size_t)rng_range(r, 65537, 262144);
    return (size_t)rng_range(r, 262145, 1 << 20);
}

static void verify_and_free(struct item *it, const char *ctx)
{
    CHECK(is_aligned(it->p, 16), "%s: misaligned pointer %p", ctx, it->p);
    CHECK_PATTERN(it->p, it->n, it->seed, "%s: block corrupted", ctx);
    free(it->p);
    atomic_fetch_add_explicit(&n_free, 1, memory_order_relaxed);
    it->p = NULL;
}

static void new_block(struct thread *t, struct item *it)
{
    size_t n = pick_size(&t->rng);
    void *p = NULL;
    switch (rng_below(&t->rng, 16)) {
    case 0: {
        p = calloc(1, n);
        CHECK(p != NULL, "calloc(1, %zu)", n);
        size_t bad = check_zero(p, n);
        CHECK(bad == (size_t)-1, "calloc(1, %zu) = %p not zeroed at offset %zu", n, p,
              bad);
        break;
    }
    case 1: {
        size_t a = (size_t)16 << rng_below(&t->rng, 8);
        int r = posix_memalign(&p, a, n);
        CHECK(r == 0 && p != NULL, "posix_memalign(%zu, %zu) = %d", a, n, r);
        CHECK(is_aligned(p, a), "posix_memalign(%zu) = %p misaligned", a, p);
        break;
    }
    case 2: {
        size_t a = (size_t)32 << rng_below(&t->rng, 6);
        p = aligned_alloc(a, (n + a - 1) / a * a);
        CHECK(p != NULL, "aligned_alloc(%zu, %zu)", a, n);
        CHECK(is_aligned(p, a), "aligned_alloc(%zu) = %p misaligned", a, p);
        break;
    }
    default:
        p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        break;
    }
    CHECK(is_aligned(p, 16), "allocation %p not 16-byte aligned", p);
    CHECK(malloc_usable_size(p) >= n, "usable size %zu < %zu", malloc_usable_size(p), n);
    atomic_fetch_add_explicit(&n_alloc, 1, memory_order_relaxed);
    it->p = p;
    it->n = n;
    it->seed = make_seed(t, p);
    fill_pattern(p, n, it->seed);
}

static int inbox_push(unsigned to, struct item *it)
{
    struct inbox *b = &inboxes[to];
    int ok_ = 0;
    pthread_mutex_lock(&b->lock);
    if (b->count < INBOX_CAP) {
        b->items[(b->head + b->count) % INBOX_CAP] = *it;
        b->count++;
        ok_ = 1;
    }
    pthread_mutex_unlock(&b->lock);
    return ok_;
}

/* Take everything out of our inbox, then verify/free outside the lock. */
static void drain(struct thread *t)
{
    static __thread struct item batch[INBOX_CAP];
    struct inbox *b = &inboxes[t->id];
    size_t n = 0;
    pthread_mutex_lock(&b->lock);
    while (b->count) {
        batch[n++] = b->items[b->head];
        b->head = (b->head + 1) % INBOX_CAP;
        b->count--;
    }
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < n; i++) {
        struct item *it = &batch[i];
        t->received++;
        if (rng_below(&t->rng, 4) == 0) {
            /* Keep it: realloc a block allocated by another thread. */
            CHECK_PATTERN(it->p, it->n, it->seed, "received block corrupted");
            size_t m = pick_size(&t->rng);
            void *q = realloc(it->p, m);
            CHECK(q != NULL, "realloc(%zu -> %zu) of a remote block", it->n, m);
            CHECK_PATTERN(q, it->n < m ? it->n : m, it->seed,
                          "realloc of remote block lost data (%zu -> %zu)", it->n, m);
            struct item *slot = &t->local[rng_below(&t->rng, LOCAL_CAP)];
            if (slot->p)
                verify_and_free(slot, "local block (evicted)");
            slot->p = q;
            slot->n = m;
            slot->seed = make_seed(t, q);
            fill_pattern(q, m, slot->seed);
        } else {
            verify_and_free(it, "received block");
        }
    }
}

static void *thread_main(void *arg)
{
    struct thread *t = arg;
    for (unsigned long op = 0; op < ops_per_thread; op++) {
        if ((op & 15) == 0)
            drain(t);
        uint64_t r = rng_below(&t->rng, 100);
        if (r < 55) {
            struct item it;
            new_block(t, &it);
            if (nthreads > 1 && rng_below(&t->rng, 100) < 55) {
                unsigned to = (unsigned)rng_below(&t->rng, nthreads - 1);
                if (to >= t->id)
                    to++;
                if (inbox_push(to, &it)) {
                    t->sent++;
                    continue;
                }
            }
            struct item *slot = &t->local[rng_below(&t->rng, LOCAL_CAP)];
            if (slot->p)
                verify_and_free(slot, "local block (evicted)");
            *slot = it;
        } else if (r < 75) {
            struct item *slot = &t->local[rng_below(&t->rng, LOCAL_CAP)];
            if (slot->p) {
                verify_and_free(slot, "local block");
                t->self_freed++;
            }
        } else if (r < 85) {
            struct item *slot = &t->local[rng_below(&t->rng, LOCAL_CAP)];
            if (slot->p) {
                CHECK_PATTERN(slot->p, slot->n, slot->seed, "local block corrupted");
                size_t m = pick_size(&t->rng);
                void *q = realloc(slot->p, m);
                CHECK(q != NULL, "realloc(%zu -> %zu)", slot->n, m);
                CHECK_PATTERN(q, slot->n < m ? slot->n : m, slot->seed,
                              "realloc lost data (%zu -> %zu)", slot->n, m);
                slot->p = q;
                slot->n = m;
                slot->seed = make_seed(t, q);
                fill_pattern(q, m, slot->seed);
            }
        } else {
            /* short-lived block */
            size_t n = (size_t)rng_range(&t->rng, 1, 512);
            void *p = malloc(n);
            CHECK(p != NULL, "malloc(%zu)", n);
            memset(p, (int)n, n);
            free(p);
        }
    }
    /* Free the local table in random order. */
    unsigned idx[LOCAL_CAP];
    for (unsigned i = 0; i < LOCAL_CAP; i++)
        idx[i] = i;
    for (unsigned i = LOCAL_CAP; i > 1; i--) {
        unsigned j = (unsigned)rng_below(&t->rng, i), tmp = idx[i - 1];
        idx[i - 1] = idx[j];
        idx[j] = tmp;
    }
    for (unsigned i = 0; i < LOCAL_CAP; i++)
        if (t->local[idx[i]].p)
            verify_and_free(&t->local[idx[i]], "local block (final)");
    drain(t);
    /* Nobody sends after this barrier, so the final drain empties it. */
    pthread_barrier_wait(&barrier);
    drain(t);
    for (unsigned i = 0; i < LOCAL_CAP; i++)
        if (t->local[i].p)
            verify_and_free(&t->local[i], "local block (after final drain)");
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        nthreads = (unsigned)strtoul(argv[1], NULL, 0);
    if (argc > 2)
        ops_per_thread = strtoul(argv[2], NULL, 0);
    CHECK(nthreads >= 1 && nthreads <= 1024, "bad thread count %u", nthreads);
    watchdog(60);

    inboxes = calloc(nthreads, sizeof *inboxes);
    threads = calloc(nthreads, sizeof *threads);
    CHECK(inboxes && threads, "calloc");
    CHECK(pthread_barrier_init(&barrier, NULL, nthreads) == 0, "barrier");
    for (unsigned i = 0; i < nthreads; i++) {
        pthread_mutex_init(&inboxes[i].lock, NULL);
        threads[i].id = i;
        rng_seed(&threads[i].rng, 1000 + i);
    }
    for (unsigned i = 0; i < nthreads; i++)
        CHECK(pthread_create(&threads[i].th, NULL, thread_main, &threads[i]) == 0,
              "pthread_create");
    unsigned long sent = 0, received = 0;
    for (unsigned i = 0; i < nthreads; i++) {
        CHECK(pthread_join(threads[i].th, NULL) == 0, "pthread_join");
        sent += threads[i].sent;
        received += threads[i].received;
        CHECK(inboxes[i].count == 0, "inbox %u not empty at exit", i);
    }
    unsigned long a = atomic_load(&n_alloc), f = atomic_load(&n_free);
    printf("threads=%u ops/thread=%lu allocations=%lu frees=%lu handed over=%lu\n",
           nthreads, ops_per_thread, a, f, sent);
    CHECK(sent == received, "sent %lu blocks but %lu were received", sent, received);
    CHECK(a == f, "%lu allocations but %lu frees", a, f);
    free(inboxes);
    free(threads);
    ok("threads_stress");
    return 0;
}

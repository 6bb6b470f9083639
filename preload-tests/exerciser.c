// expect: exit 0
// args: 1 2 3
/* exerciser: a randomized, multi-threaded exerciser of the whole malloc API.
 *
 * Usage: exerciser [SEED...]          (run.sh passes 1 2 3)
 *   SEED                 a number, or `random` (derived from the clock and
 *                        the pid; printed so the run can be repeated)
 * Environment:
 *   EXERCISER_SEED=S     run only seed S (overrides the arguments; `random`
 *                        works here too)
 *   EXERCISER_SECONDS=N  seconds per seed (default 3); a soak is e.g.
 *                        EXERCISER_SECONDS=600 EXERCISER_SEED=random
 *   EXERCISER_THREADS=N  worker threads (default 4)
 *   EXERCISER_CAP_MB=N   bound on live memory in MiB (default 512)
 *   EXERCISER_SKIP=f,g   functions not to call (e.g. `pvalloc` when the
 *                        allocator under test is one that lacks it)
 *
 * Each seed runs in a forked child (a fresh process image as far as the
 * exercise is concerned; the parent only parses arguments), so a failing
 * seed can be re-run alone with EXERCISER_SEED=S.  The parent prints the
 * seed of any child that failed or died, with the command to repeat it.
 * The operations every thread draws are a function of the seed; the
 * interleaving of threads and the time-bounded run length are not, so a
 * race may need a few repetitions to come back.
 *
 * What one seed does:
 *  - NSLOTS shared slots, each protected by its own mutex; worker threads
 *    pick a slot (mostly from "their" part of the table, often anywhere, so
 *    blocks are freed and reallocated by threads other than the one that
 *    allocated them) and then:
 *      empty slot: allocate with one of malloc, calloc, realloc(NULL),
 *        reallocarray(NULL), posix_memalign, aligned_alloc, memalign, valloc,
 *        pvalloc; sizes 0 B to 64 MiB (mostly small, a tail of large, powers
 *        of two +-1), alignments every power of two from 1 B to 8 MiB;
 *        check the alignment, malloc_usable_size >= requested (pvalloc: the
 *        page-rounded size), calloc zeroing, then fill the whole usable size
 *        with a pattern;
 *      full slot: check the pattern, then free it, realloc/reallocarray it
 *        (contents kept up to min(old, new) size; realloc(p, 0) frees), or
 *        only re-check usable size and pattern;
 *  - now and then: impossible requests (NULL + ENOMEM; a failed realloc
 *    leaves the block untouched), slab_epoch_advance / slab_reclaim /
 *    slab_epoch_close of an older epoch (looked up with dlsym: absent under
 *    glibc), malloc_trim(0);
 *  - worker threads live for a random number of operations, exit, and are
 *    replaced, so blocks outlive the thread that allocated them;
 *  - once a second the main thread stops the workers (a writer-preferring
 *    rwlock), sorts every live block by address and checks that no two
 *    [p, p + usable) intervals overlap, and re-checks every pattern;
 *  - live memory (requested size + alignment slack) is capped.
 * At the end every block is checked and freed.
 */
#include "common.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#define NSLOTS 8192
#define MAX_THREADS 64
#define MiB_ ((size_t)1 << 20)

enum kind {
    K_MALLOC,
    K_CALLOC,
    K_REALLOC_NULL,
    K_REALLOCARRAY_NULL,
    K_POSIX_MEMALIGN,
    K_ALIGNED_ALLOC,
    K_MEMALIGN,
    K_VALLOC,
    K_PVALLOC,
    K_REALLOC,
    K_REALLOCARRAY,
    K_COUNT
};
static const char *const kind_name[K_COUNT] = {
    "malloc",  "calloc",  "realloc(NULL)", "reallocarray(NULL)", "posix_memalign",
    "aligned_alloc", "memalign", "valloc", "pvalloc", "realloc", "reallocarray",
};

struct slot {
    pthread_mutex_t mu;
    void *p;
    size_t req;    /* requested size */
    size_t usable; /* malloc_usable_size at allocation */
    size_t align;  /* requested alignment (0: none) */
    size_t cost;   /* charged against the live cap */
    uint64_t seed;
    int kind;
};

static struct slot slots[NSLOTS];

/* Workers hold it for reading around each batch of operations; the
 * checkpoint takes it for writing (writer-preferring, or a busy pool of
 * workers would starve it). */
static pthread_rwlock_t world;

static size_t page_size;
static size_t cap_bytes = 512 * MiB_;
static atomic_size_t live_cost;
static atomic_int stop_flag;
static uint64_t run_seed;
static unsigned nthreads = 4;
static int skip_kind[K_COUNT];

static unsigned (*p_advance)(void);
static int (*p_close)(unsigned);
static size_t (*p_reclaim)(void);

/* Counters, summed over all threads. */
static atomic_ulong c_ops, c_alloc[K_COUNT], c_free, c_enomem, c_advance, c_trim,
    c_large, c_lives;

/* ------------------------------------------------------------------ sizes */

static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 1000000);
    if (x < 50000) {
        /* a power of two, or one off; rarely a large one */
        unsigned lg = (unsigned)rng_below(r, rng_below(r, 32) ? 17 : 27);
        size_t p2 = (size_t)1 << lg;
        return p2 + (size_t)rng_below(r, 3) - 1;
    }
    if (x < 600000)
        return (size_t)rng_below(r, 129);
    if (x < 850000)
        return (size_t)rng_range(r, 129, 1024);
    if (x < 950000)
        return (size_t)rng_range(r, 1025, 8192);
    if (x < 985000)
        return (size_t)rng_range(r, 8193, 65536);
    if (x < 997000)
        return (size_t)rng_range(r, 65537, MiB_);
    if (x < 999700)
        return (size_t)rng_range(r, MiB_ + 1, 8 * MiB_);
    return (size_t)rng_range(r, 8 * MiB_ + 1, 64 * MiB_);
}

/* 2^0 .. 2^23, weighted towards the small ones. */
static size_t pick_align(rng_t *r, unsigned min_log)
{
    unsigned lg;
    if (rng_below(r, 4) != 0)
        lg = (unsigned)rng_below(r, 13); /* up to a page */
    else
        lg = (unsigned)rng_below(r, 24); /* up to 8 MiB */
    if (lg < min_log)
        lg = min_log;
    return (size_t)1 << lg;
}

static size_t round_up(size_t n, size_t a)
{
    return (n + a - 1) / a * a;
}

/* Reserve `cost` bytes against the cap; 0 if that would exceed it. */
static int charge(size_t cost)
{
    size_t cur = atomic_load_explicit(&live_cost, memory_order_relaxed);
    do {
        if (cur + cost > cap_bytes)
            return 0;
    } while (!atomic_compare_exchange_weak_explicit(&live_cost, &cur, cur + cost,
                                                    memory_order_relaxed,
                                                    memory_order_relaxed));
    return 1;
}

static void uncharge(size_t cost)
{
    atomic_fetch_sub_explicit(&live_cost, cost, memory_order_relaxed);
}

/* --------------------------------------------------------------- checking */

#define SFAIL(s, fmt, ...)                                                        \
    FAIL("seed %" PRIu64 ": %s block %p (%zu bytes, align %zu): " fmt, run_seed,  \
         kind_name[(s)->kind], (s)->p, (s)->req, (s)->align, ##__VA_ARGS__)

static void verify_slot(struct slot *s, const char *when)
{
    size_t bad = check_pattern(s->p, s->usable, s->seed);
    if (bad != (size_t)-1)
        SFAIL(s, "pattern broken at offset %zu of %zu usable bytes (%s)", bad, s->usable,
              when);
}

/* Validate a fresh block in slot s (p, req, align, kind set) and fill it. */
static void adopt_block(struct slot *s, uint64_t seed)
{
    size_t a = s->align;
    CHECK(is_aligned(s->p, 16), "seed %" PRIu64 ": %s(%zu) = %p not 16-byte aligned",
          run_seed, kind_name[s->kind], s->req, s->p);
    if (a > 16 && !is_aligned(s->p, a))
        SFAIL(s, "not aligned to %zu", a);
    if ((s->kind == K_VALLOC || s->kind == K_PVALLOC) && !is_aligned(s->p, page_size))
        SFAIL(s, "not page aligned");
    size_t us = malloc_usable_size(s->p);
    size_t need = s->req;
    if (s->kind == K_PVALLOC && !(s->req == 0 && mode_is_glibc()))
        need = round_up(s->req ? s->req : 1, page_size);
    if (us < need)
        SFAIL(s, "malloc_usable_size = %zu < %zu", us, need);
    if (s->kind == K_CALLOC) {
        size_t bad = check_zero(s->p, s->req);
        if (bad != (size_t)-1)
            SFAIL(s, "calloc memory not zero at offset %zu", bad);
    }
    s->usable = us;
    s->seed = seed;
    fill_pattern(s->p, us, seed);
}

/* ------------------------------------------------------------- operations */

struct worker {
    pthread_t th;
    unsigned idx;
    unsigned life;
    atomic_int done;
    rng_t rng;
    uint64_t seq;
    int running;
};
static struct worker workers[MAX_THREADS];

static uint64_t next_seed(struct worker *w)
{
    return mix64(run_seed ^ ((uint64_t)w->idx << 56) ^ ((uint64_t)w->life << 40) ^
                 ++w->seq);
}

static int pick_alloc_kind(rng_t *r)
{
    static const struct {
        int kind, weight;
    } table[] = {
        {K_MALLOC, 34},        {K_CALLOC, 12},    {K_REALLOC_NULL, 5},
        {K_REALLOCARRAY_NULL, 5}, {K_POSIX_MEMALIGN, 12}, {K_ALIGNED_ALLOC, 10},
        {K_MEMALIGN, 10},      {K_VALLOC, 6},     {K_PVALLOC, 6},
    };
    for (;;) {
        uint64_t x = rng_below(r, 100);
        for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
            if (x < (uint64_t)table[i].weight) {
                if (skip_kind[table[i].kind])
                    break; /* draw again */
                return table[i].kind;
            }
            x -= (uint64_t)table[i].weight;
        }
    }
}

static void do_alloc(struct worker *w, struct slot *s)
{
    rng_t *r = &w->rng;
    int kind = pick_alloc_kind(r);
    size_t n = pick_size(r);
    size_t a = 0;
    if (kind == K_POSIX_MEMALIGN)
        a = pick_align(r, 3); /* a multiple of sizeof(void *) */
    else if (kind == K_ALIGNED_ALLOC || kind == K_MEMALIGN)
        a = pick_align(r, 0);
    else if (kind == K_VALLOC || kind == K_PVALLOC)
        a = page_size;
    size_t cost = n + a + (kind == K_PVALLOC ? page_size : 0);
    if (!charge(cost)) {
        /* Over the cap: something small instead. */
        n = (size_t)rng_below(r, 257);
        a = a > 4096 ? 4096 : a;
        cost = n + a + (kind == K_PVALLOC ? page_size : 0);
        if (!charge(cost))
            return;
    }
    void *p = NULL;
    errno = 0;
    switch (kind) {
    case K_MALLOC:
        p = malloc(n);
        break;
    case K_CALLOC: {
        /* n = count * elem for an element size that divides n */
        size_t elem = (size_t)1 << rng_below(r, 5);
        if (n % elem)
            elem = 1;
        p = calloc(n / elem, elem);
        break;
    }
    case K_REALLOC_NULL:
        p = realloc(NULL, n);
        break;
    case K_REALLOCARRAY_NULL:
        p = reallocarray(NULL, n, 1);
        break;
    case K_POSIX_MEMALIGN: {
        int e = posix_memalign(&p, a, n);
        if (e != 0)
            FAIL("seed %" PRIu64 ": posix_memalign(%zu, %zu) = %d", run_seed, a, n, e);
        break;
    }
    case K_ALIGNED_ALLOC:
        p = aligned_alloc(a, n);
        break;
    case K_MEMALIGN:
        p = memalign(a, n);
        break;
    case K_VALLOC:
        p = valloc(n);
        break;
    case K_PVALLOC:
        p = pvalloc(n);
        break;
    }
    if (p == NULL)
        FAIL("seed %" PRIu64 ": %s(size %zu, align %zu) returned NULL (errno %d)",
             run_seed, kind_name[kind], n, a, errno);
    s->p = p;
    s->req = n;
    s->align = a;
    s->kind = kind;
    s->cost = cost;
    adopt_block(s, next_seed(w));
    atomic_fetch_add_explicit(&c_alloc[kind], 1, memory_order_relaxed);
    if (n > MiB_)
        atomic_fetch_add_explicit(&c_large, 1, memory_order_relaxed);
}

static void do_free(struct slot *s, const char *when)
{
    verify_slot(s, when);
    int saved = errno = 12345;
    free(s->p);
    if (errno != saved)
        SFAIL(s, "free changed errno to %d", errno);
    uncharge(s->cost);
    s->p = NULL;
    atomic_fetch_add_explicit(&c_free, 1, memory_order_relaxed);
}

static void do_realloc(struct worker *w, struct slot *s)
{
    rng_t *r = &w->rng;
    verify_slot(s, "before realloc");
    size_t n;
    if (rng_below(r, 2)) {
        /* near the old size: grow or shrink in place, or move */
        size_t d = (size_t)rng_below(r, s->req / 4 + 65);
        n = rng_below(r, 2) ? s->req + d : (s->req > d ? s->req - d : 0);
    } else {
        n = pick_size(r);
    }
    int use_array = !skip_kind[K_REALLOCARRAY] && rng_below(r, 4) == 0;
    size_t elem = 1;
    if (use_array) {
        elem = (size_t)1 << rng_below(r, 4);
        n = round_up(n, elem);
    }
    /* Growth is charged against the cap; over it, shrink instead. */
    if (n > s->req && !charge(n - s->req))
        n = s->req / 2 / elem * elem;
    size_t old_req = s->req;
    const char *fn = use_array ? "reallocarray" : "realloc";
    errno = 0;
    void *q = use_array ? reallocarray(s->p, n / elem, elem) : realloc(s->p, n);
    if (q == NULL) {
        if (n != 0)
            FAIL("seed %" PRIu64 ": %s(%p, %zu -> %zu) returned NULL (errno %d)", run_seed,
                 fn, s->p, old_req, n, errno);
        /* glibc semantics: realloc(p, 0) frees p and returns NULL */
        uncharge(s->cost);
        s->p = NULL;
        atomic_fetch_add_explicit(&c_free, 1, memory_order_relaxed);
        return;
    }
    /* (A non-NULL result for size 0 is a valid choice too: C17 leaves it to
     * the implementation.) */
    size_t keep = old_req < n ? old_req : n;
    size_t bad = check_pattern(q, keep, s->seed);
    if (bad != (size_t)-1)
        FAIL("seed %" PRIu64 ": %s(%p -> %p, %zu -> %zu bytes) lost the contents at "
             "offset %zu (old block from %s)",
             run_seed, fn, s->p, q, old_req, n, bad, kind_name[s->kind]);
    if (n < old_req)
        uncharge(old_req - n);
    s->cost = s->cost - old_req + n;
    s->p = q;
    s->req = n;
    s->align = 0;
    s->kind = use_array ? K_REALLOCARRAY : K_REALLOC;
    adopt_block(s, next_seed(w));
    atomic_fetch_add_explicit(&c_alloc[s->kind], 1, memory_order_relaxed);
}

/* Requests that must fail with ENOMEM and change nothing. */
static void do_impossible(struct worker *w, struct slot *s)
{
    rng_t *r = &w->rng;
    size_t huge = opaque_size((size_t)PTRDIFF_MAX + 1 + (size_t)rng_below(r, 4096));
    void *p;
    switch (rng_below(r, 5)) {
    case 0:
        errno = 0;
        p = malloc(huge);
        CHECK(p == NULL && errno == ENOMEM, "malloc(%zu) = %p errno %d", huge, p, errno);
        break;
    case 1:
        errno = 0;
        p = calloc(opaque_size((size_t)1 << 33), opaque_size((size_t)1 << 33));
        CHECK(p == NULL && errno == ENOMEM, "calloc overflow = %p errno %d", p, errno);
        break;
    case 2: {
        void *m = (void *)0x1234;
        int e = posix_memalign(&m, 64, huge);
        CHECK(e == ENOMEM && m == (void *)0x1234, "posix_memalign(64, %zu) = %d, %p",
              huge, e, m);
        break;
    }
    case 3:
    case 4:
        if (s->p) {
            errno = 0;
            p = rng_below(r, 2) ? realloc(s->p, huge)
                                : reallocarray(s->p, opaque_size((size_t)1 << 40),
                                               opaque_size((size_t)1 << 40));
            CHECK(p == NULL && errno == ENOMEM, "failing realloc of %p = %p errno %d",
                  s->p, p, errno);
            verify_slot(s, "after a failed realloc");
            CHECK(malloc_usable_size(s->p) == s->usable,
                  "usable size of %p changed after a failed realloc", s->p);
        }
        break;
    }
    atomic_fetch_add_explicit(&c_enomem, 1, memory_order_relaxed);
}

static void housekeeping(struct worker *w)
{
    rng_t *r = &w->rng;
    uint64_t x = rng_below(r, 100);
    if (x < 60) {
        if (p_advance) {
            unsigned e = p_advance();
            CHECK(e < 16, "slab_epoch_advance returned %u", e);
            if (p_close && rng_below(r, 3) == 0) {
                /* close an older epoch: its live blocks stay valid */
                unsigned old = (e + 16 - 1 - (unsigned)rng_below(r, 4)) % 16;
                int rc = p_close(old);
                CHECK(rc == 0, "slab_epoch_close(%u) = %d", old, rc);
            }
        }
        atomic_fetch_add_explicit(&c_advance, 1, memory_order_relaxed);
    } else if (x < 80) {
        if (p_reclaim)
            (void)p_reclaim();
    } else {
        malloc_trim(0);
        atomic_fetch_add_explicit(&c_trim, 1, memory_order_relaxed);
    }
}

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    rng_t *r = &w->rng;
    unsigned part = NSLOTS / nthreads;
    unsigned long life_ops = (unsigned long)rng_range(r, 2000, 200000);
    unsigned long ops = 0;
    while (ops < life_ops && !atomic_load_explicit(&stop_flag, memory_order_relaxed)) {
        pthread_rwlock_rdlock(&world);
        for (int b = 0; b < 32; b++, ops++) {
            unsigned i;
            if (rng_below(r, 4) != 0)
                i = w->idx * part + (unsigned)rng_below(r, part);
            else
                i = (unsigned)rng_below(r, NSLOTS);
            struct slot *s = &slots[i];
            uint64_t op = rng_below(r, 100000);
            pthread_mutex_lock(&s->mu);
            if (op < 10)
                do_impossible(w, s);
            else if (op < 40)
                housekeeping(w);
            else if (!s->p)
                do_alloc(w, s);
            else if (op < 50000)
                do_free(s, "before free");
            else if (op < 80000)
                do_realloc(w, s);
            else {
                verify_slot(s, "spot check");
                CHECK(malloc_usable_size(s->p) == s->usable,
                      "seed %" PRIu64 ": malloc_usable_size(%p) changed from %zu to %zu",
                      run_seed, s->p, s->usable, malloc_usable_size(s->p));
            }
            pthread_mutex_unlock(&s->mu);
        }
        pthread_rwlock_unlock(&world);
    }
    atomic_fetch_add_explicit(&c_ops, ops, memory_order_relaxed);
    atomic_store(&w->done, 1);
    return NULL;
}

static void start_worker(struct worker *w)
{
    w->life++;
    w->seq = 0;
    rng_seed(&w->rng, mix64(run_seed * 1000003u + w->idx * 7919u + w->life));
    atomic_store(&w->done, 0);
    int e = pthread_create(&w->th, NULL, worker_main, w);
    CHECK(e == 0, "pthread_create: %s", strerror(e));
    w->running = 1;
    atomic_fetch_add_explicit(&c_lives, 1, memory_order_relaxed);
}

/* -------------------------------------------------------------- checkpoint */

struct ival {
    uintptr_t lo, hi;
    unsigned slot;
};

static int cmp_ival(const void *a, const void *b)
{
    const struct ival *x = a, *y = b;
    return x->lo < y->lo ? -1 : x->lo > y->lo;
}

/* With the world stopped: every live block intact, no two overlapping. */
static size_t checkpoint(void)
{
    static struct ival iv[NSLOTS];
    size_t n = 0, bytes = 0;
    for (unsigned i = 0; i < NSLOTS; i++) {
        struct slot *s = &slots[i];
        if (!s->p)
            continue;
        verify_slot(s, "checkpoint");
        iv[n].lo = (uintptr_t)s->p;
        iv[n].hi = (uintptr_t)s->p + s->usable;
        iv[n].slot = i;
        bytes += s->usable;
        n++;
    }
    qsort(iv, n, sizeof iv[0], cmp_ival);
    for (size_t i = 1; i < n; i++) {
        if (iv[i].lo < iv[i - 1].hi) {
            struct slot *a = &slots[iv[i - 1].slot], *b = &slots[iv[i].slot];
            FAIL("seed %" PRIu64 ": live blocks overlap: %s %p (+%zu usable) and %s %p "
                 "(+%zu usable)",
                 run_seed, kind_name[a->kind], a->p, a->usable, kind_name[b->kind], b->p,
                 b->usable);
        }
    }
    (void)bytes;
    return n;
}

/* ------------------------------------------------------------------- seed */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void run_one_seed(uint64_t seed, double seconds)
{
    run_seed = seed;
    watchdog((unsigned)seconds + 90);
    page_size = (size_t)sysconf(_SC_PAGESIZE);
    pthread_rwlockattr_t ra;
    pthread_rwlockattr_init(&ra);
    pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
    pthread_rwlock_init(&world, &ra);
    for (unsigned i = 0; i < NSLOTS; i++)
        pthread_mutex_init(&slots[i].mu, NULL);
    void *sym;
    if ((sym = dlsym(RTLD_DEFAULT, "slab_epoch_advance")))
        __builtin_memcpy(&p_advance, &sym, sizeof sym);
    if ((sym = dlsym(RTLD_DEFAULT, "slab_epoch_close")))
        __builtin_memcpy(&p_close, &sym, sizeof sym);
    if ((sym = dlsym(RTLD_DEFAULT, "slab_reclaim")))
        __builtin_memcpy(&p_reclaim, &sym, sizeof sym);
    if (mode_is_glibc())
        CHECK(!p_advance, "none mode, but slab_epoch_advance is defined");

    for (unsigned i = 0; i < nthreads; i++) {
        workers[i].idx = i;
        start_worker(&workers[i]);
    }
    double t0 = now_s(), next_cp = t0 + 1.0;
    unsigned checkpoints = 0;
    size_t max_live = 0;
    for (;;) {
        struct timespec nap = {0, 5 * 1000 * 1000};
        nanosleep(&nap, NULL);
        double t = now_s();
        int last = t - t0 >= seconds;
        for (unsigned i = 0; i < nthreads; i++) {
            struct worker *w = &workers[i];
            if (w->running && atomic_load(&w->done)) {
                CHECK(pthread_join(w->th, NULL) == 0, "pthread_join");
                w->running = 0;
                if (!last)
                    start_worker(w);
            }
        }
        if (last)
            break;
        if (t >= next_cp) {
            pthread_rwlock_wrlock(&world);
            size_t n = checkpoint();
            if (n > max_live)
                max_live = n;
            checkpoints++;
            pthread_rwlock_unlock(&world);
            next_cp = now_s() + 1.0;
        }
    }
    atomic_store(&stop_flag, 1);
    for (unsigned i = 0; i < nthreads; i++) {
        if (workers[i].running) {
            CHECK(pthread_join(workers[i].th, NULL) == 0, "pthread_join");
            workers[i].running = 0;
        }
    }
    size_t n = checkpoint();
    checkpoints++;
    for (unsigned i = 0; i < NSLOTS; i++)
        if (slots[i].p)
            do_free(&slots[i], "final free");
    CHECK(atomic_load(&live_cost) == 0, "live cost accounting off by %zu",
          atomic_load(&live_cost));
    unsigned long allocs = 0;
    for (int k = 0; k < K_COUNT; k++)
        allocs += atomic_load(&c_alloc[k]);
    printf("seed %" PRIu64 ": %.1fs, %u threads (%lu lives), %lu ops, %lu allocations "
           "(%lu over 1 MiB), %lu frees, %lu failing requests, %lu epoch advances, "
           "%lu malloc_trim, %u checkpoints, up to %zu live blocks (%zu at the end)\n",
           seed, now_s() - t0, nthreads, atomic_load(&c_lives), atomic_load(&c_ops),
           allocs, atomic_load(&c_large), atomic_load(&c_free), atomic_load(&c_enomem),
           atomic_load(&c_advance), atomic_load(&c_trim), checkpoints,
           max_live > n ? max_live : n, n);
    for (int k = 0; k < K_COUNT; k++)
        if (!skip_kind[k])
            CHECK(atomic_load(&c_alloc[k]) > 0, "seed %" PRIu64 ": %s never called",
                  seed, kind_name[k]);
    fflush(stdout);
}

/* ------------------------------------------------------------------- main */

static uint64_t parse_seed(const char *s)
{
    if (strcmp(s, "random") == 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        return mix64((uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20) ^
                     ((uint64_t)getpid() << 40)) % 1000000000u;
    }
    char *end;
    errno = 0;
    unsigned long long v = strtoull(s, &end, 0);
    if (errno || *end || end == s) {
        fprintf(stderr, "exerciser: bad seed '%s'\n", s);
        exit(2);
    }
    return v;
}

static void parse_skip(const char *list)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    for (char *save = NULL, *t = strtok_r(buf, ",", &save); t;
         t = strtok_r(NULL, ",", &save)) {
        int found = 0;
        for (int k = 0; k < K_COUNT; k++)
            if (strcmp(t, kind_name[k]) == 0)
                skip_kind[k] = found = 1;
        if (!found) {
            fprintf(stderr, "exerciser: EXERCISER_SKIP: unknown function '%s'\n", t);
            exit(2);
        }
    }
    if (skip_kind[K_REALLOC]) {
        fprintf(stderr, "exerciser: realloc cannot be skipped\n");
        exit(2);
    }
}

int main(int argc, char **argv)
{
    const char *e;
    double seconds = 3;
    uint64_t seeds[64];
    int nseeds = 0;
    if ((e = getenv("EXERCISER_SECONDS")))
        seconds = atof(e);
    if ((e = getenv("EXERCISER_THREADS")))
        nthreads = (unsigned)atoi(e);
    if ((e = getenv("EXERCISER_CAP_MB")))
        cap_bytes = (size_t)atol(e) * MiB_;
    if ((e = getenv("EXERCISER_SKIP")))
        parse_skip(e);
    if (seconds <= 0 || nthreads < 1 || nthreads > MAX_THREADS || cap_bytes < 16 * MiB_) {
        fprintf(stderr, "exerciser: bad EXERCISER_SECONDS/THREADS/CAP_MB\n");
        return 2;
    }
    if ((e = getenv("EXERCISER_SEED")) && *e)
        seeds[nseeds++] = parse_seed(e);
    else
        for (int i = 1; i < argc && nseeds < 64; i++)
            seeds[nseeds++] = parse_seed(argv[i]);
    if (nseeds == 0)
        seeds[nseeds++] = 1;

    int failed = 0;
    for (int i = 0; i < nseeds; i++) {
        printf("exerciser: seed %" PRIu64 ", %.0fs, %u threads\n", seeds[i], seconds,
               nthreads);
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0) {
            run_one_seed(seeds[i], seconds);
            _exit(0);
        }
        int st;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
        if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
            continue;
        failed++;
        if (WIFSIGNALED(st))
            fprintf(stderr, "exerciser: seed %" PRIu64 " FAILED: killed by signal %d (%s)\n",
                    seeds[i], WTERMSIG(st), strsignal(WTERMSIG(st)));
        else
            fprintf(stderr, "exerciser: seed %" PRIu64 " FAILED: exit status %d\n", seeds[i],
                    WEXITSTATUS(st));
        fprintf(stderr,
                "exerciser: reproduce with: EXERCISER_SEED=%" PRIu64
                " EXERCISER_SECONDS=%g EXERCISER_THREADS=%u preload-tests/build/exerciser\n",
                seeds[i], seconds, nthreads);
    }
    if (failed)
        return 1;
    ok("exerciser");
    return 0;
}

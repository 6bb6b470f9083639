/* domains_threads: epoch domains belong to the thread that entered them
 * (include/zslab.h).
 *
 *  - thread A enters "owner-A" and hands its id to thread B. B, with no
 *    domain of its own, sees slab_domain_current() == 0, and its
 *    slab_domain_exit() and slab_domain_force_close(A's id) are refused
 *    (-1, EINVAL); B then enters "owner-B": force_close(A's id) is refused
 *    with EPERM, and entering the label "owner-A" opens a new domain of B's
 *    (another id), it does not join A's; B leaves its domains. Meanwhile
 *    A's domain is untouched: still A's current, ACTIVE, and A's objects
 *    keep landing in its epoch; A's exit closes it (CLOSING);
 *  - threads that exit with domains still open: rounds of 4 threads, each
 *    entering 3 nested domains (the innermost re-entered, counted),
 *    allocating in each, handing some objects to the main thread and to a
 *    sibling (remote frees), and returning without leaving them. After each
 *    round: every domain of the exited threads is CLOSING (their ids are
 *    closed by the thread exit), the objects handed out are intact and
 *    freeable from another thread, and a new thread (reusing an exited
 *    thread's heap) starts outside any domain (current 0, exit refused);
 *  - at the end the global counts add up: every object allocated here was
 *    freed, so live objects are back to where they started.
 *
 * Under glibc (run.sh none) the domain symbols are absent: the threads run
 * their allocations only.
 */
#include "zslab_test.h"

#include <pthread.h>

static zslab_api z;
static zt_domain_api d;
static int dom;

static struct zslab_epoch_stats ep(uint64_t id)
{
    struct zslab_epoch_stats s;
    zt_epoch(&z, (unsigned)(id % ZSLAB_EPOCHS), &s);
    return s;
}

/* ------------------------------------------------ A and B: ownership */

static pthread_barrier_t ab;
static uint64_t a_id;
enum { AN = 2000 };
static void *a_objs[AN];

static void *thread_a(void *arg)
{
    (void)arg;
    a_id = d.enter("owner-A");
    CHECK(a_id != 0, "A: enter: %s", strerror(errno));
    for (int i = 0; i < AN / 2; i++) {
        a_objs[i] = malloc(40);
        fill_pattern(a_objs[i], 40, 0xA0000 + (uint64_t)i);
    }
    pthread_barrier_wait(&ab); /* 1: B may try A's domain */
    pthread_barrier_wait(&ab); /* 2: B is done */
    CHECK(d.current() == a_id, "A: after B's attempts current %" PRIu64 ", expected %" PRIu64, d.current(),
          a_id);
    struct zslab_epoch_stats s = ep(a_id);
    CHECK(s.era == a_id && s.state == ZSLAB_EPOCH_ACTIVE && strcmp(s.label, "owner-A") == 0,
          "A's epoch after B's attempts: era %" PRIu64 " state %s label \"%s\"", s.era,
          zt_state_name((uint32_t)s.state), s.label);
    uint64_t before = s.live_objects;
    for (int i = AN / 2; i < AN; i++) {
        a_objs[i] = malloc(40);
        fill_pattern(a_objs[i], 40, 0xA0000 + (uint64_t)i);
    }
    CHECK(ep(a_id).live_objects >= before + AN / 2, "A's later objects are not in its epoch (%" PRIu64
          " -> %" PRIu64 ")", before, ep(a_id).live_objects);
    CHECK(d.exit() == 0, "A: exit: %s", strerror(errno));
    s = ep(a_id);
    CHECK(s.era == a_id && s.state == ZSLAB_EPOCH_CLOSING, "A's epoch after A's exit: %s",
          zt_state_name((uint32_t)s.state));
    CHECK(d.current() == 0, "A: current after exit");
    return NULL;
}

static void *thread_b(void *arg)
{
    (void)arg;
    free(malloc(16)); /* a heap of its own */
    pthread_barrier_wait(&ab); /* 1 */
    uint64_t id = a_id;
    CHECK(d.current() == 0, "B sees A's domain as its current (%" PRIu64 ")", d.current());
    errno = 0;
    CHECK(d.force_close(id) == -1 && errno == EINVAL, "B (no domain): force_close(A's id): errno %d", errno);
    errno = 0;
    CHECK(d.exit() == -1 && errno == EINVAL, "B (no domain): exit: errno %d", errno);
    uint64_t b = d.enter("owner-B");
    CHECK(b != 0 && b != id, "B: enter owner-B returned %" PRIu64 " (A's id %" PRIu64 ")", b, id);
    errno = 0;
    CHECK(d.force_close(id) == -1 && errno == EPERM, "B (in owner-B): force_close(A's id): errno %d", errno);
    uint64_t b2 = d.enter("owner-A");
    CHECK(b2 != 0 && b2 != id && b2 != b, "B entering the label owner-A joined A's domain (%" PRIu64 ")", b2);
    void *p = malloc(64);
    CHECK(d.exit() == 0 && d.exit() == 0 && d.current() == 0, "B leaves its domains");
    free(p);
    errno = 0;
    CHECK(d.force_close(id) == -1 && errno == EINVAL, "B (no domain again): force_close(A's id): errno %d",
          errno);
    pthread_barrier_wait(&ab); /* 2 */
    return NULL;
}

/* ------------------------------------- threads exiting inside domains */

enum { ROUNDS = 12, THREADS = 4, PER = 400, HANDED = 100 };

typedef struct {
    int round, idx;
    uint64_t ids[3];
    void *handed[HANDED];  /* freed by the main thread */
    void *sibling[HANDED]; /* freed by the next thread of the round */
    pthread_barrier_t *bar;
    struct worker *next;
} worker;

static uint64_t seed_of(int round, int idx, int k)
{
    return ((uint64_t)round << 32) | ((uint64_t)idx << 24) | (uint64_t)k;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    /* A fresh thread (maybe on an exited thread's heap) is in no domain. */
    CHECK(d.current() == 0, "round %d thread %d starts in domain %" PRIu64, w->round, w->idx, d.current());
    errno = 0;
    CHECK(d.exit() == -1 && errno == EINVAL, "round %d thread %d: exit with no domain", w->round, w->idx);
    static const char *const names[3] = {"outer", "middle", "inner"};
    int handed = 0;
    for (int level = 0; level < 3; level++) {
        char label[32];
        snprintf(label, sizeof label, "r%d-t%d-%s", w->round, w->idx, names[level]);
        w->ids[level] = d.enter(label);
        CHECK(w->ids[level] != 0, "enter %s: %s", label, strerror(errno));
        void *mine[PER];
        for (int i = 0; i < PER; i++) {
            size_t sz = 16 + (size_t)(i % 50) * 24;
            mine[i] = malloc(sz);
            CHECK(mine[i], "malloc");
            memset(mine[i], 0x5A, sz);
        }
        for (int i = 0; i < PER; i++) {
            if (i % 12 == 0 && handed < HANDED) {
                w->handed[handed] = mine[i];
                fill_pattern(w->handed[handed], 16, seed_of(w->round, w->idx, handed));
                w->sibling[handed] = malloc(32);
                fill_pattern(w->sibling[handed], 32, ~seed_of(w->round, w->idx, handed));
                handed++;
            } else {
                free(mine[i]);
            }
        }
    }
    /* The innermost entered twice more (counted). */
    CHECK(d.enter(NULL) != 0, "an unlabelled level");
    CHECK(d.exit() == 0, "leave it");
    char inner[32];
    snprintf(inner, sizeof inner, "r%d-t%d-inner", w->round, w->idx);
    CHECK(d.enter(inner) == w->ids[2] && d.enter(inner) == w->ids[2], "counted re-entry");
    CHECK(handed == HANDED, "handed %d", handed);
    /* Free the previous sibling's objects (remote frees into its domains). */
    pthread_barrier_wait(w->bar);
    worker *prev = (worker *)w->next;
    for (int i = 0; i < HANDED; i++) {
        CHECK_PATTERN(prev->sibling[i], 32, ~seed_of(prev->round, prev->idx, i), "sibling object %d", i);
        free(prev->sibling[i]);
    }
    pthread_barrier_wait(w->bar);
    /* Return with three domains open (the innermost with count 3). */
    return NULL;
}

int main(void)
{
    int have = zt_load(&z);
    dom = zt_load_domains(&d);
    CHECK(have == dom, "epoch API and domain API disagree");
    watchdog(100);
    printf("domains_threads: %s\n", dom ? "zslab loaded" : "plain glibc");
    fflush(stdout);
    if (!dom) {
        printf("zslab not loaded: domain checks skipped\n");
        ok("domains_threads");
        return 0;
    }
    struct zslab_global_stats g0;
    zt_global(&z, &g0);

    /* A and B. */
    pthread_t ta, tb;
    CHECK(pthread_barrier_init(&ab, NULL, 2) == 0, "barrier");
    CHECK(pthread_create(&ta, NULL, thread_a, NULL) == 0, "create A");
    CHECK(pthread_create(&tb, NULL, thread_b, NULL) == 0, "create B");
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    for (int i = 0; i < AN; i++) {
        CHECK_PATTERN(a_objs[i], 40, 0xA0000 + (uint64_t)i, "A's object %d", i);
        free(a_objs[i]);
    }
    CHECK(ep(a_id).live_objects == 0, "A's epoch still has %" PRIu64 " objects after all were freed",
          ep(a_id).live_objects);
    printf("ownership: A's domain %" PRIu64 " kept out of B's reach\n", a_id);

    /* Threads exiting inside domains. */
    static worker w[THREADS];
    int checked = 0;
    pthread_barrier_t bar;
    CHECK(pthread_barrier_init(&bar, NULL, THREADS) == 0, "barrier");
    for (int r = 0; r < ROUNDS; r++) {
        pthread_t t[THREADS];
        for (int i = 0; i < THREADS; i++) {
            memset(&w[i], 0, sizeof w[i]);
            w[i].round = r;
            w[i].idx = i;
            w[i].bar = &bar;
            w[i].next = (struct worker *)&w[(i + THREADS - 1) % THREADS];
        }
        for (int i = 0; i < THREADS; i++)
            CHECK(pthread_create(&t[i], NULL, worker_main, &w[i]) == 0, "create round %d thread %d", r, i);
        for (int i = 0; i < THREADS; i++)
            pthread_join(t[i], NULL);
        /* 16 domains per round (3 labelled and one unlabelled per thread):
         * a slot reopened within the round holds another domain now. */
        for (int i = 0; i < THREADS; i++)
            for (int level = 0; level < 3; level++) {
                struct zslab_epoch_stats s = ep(w[i].ids[level]);
                if (s.era != w[i].ids[level])
                    continue;
                checked++;
                CHECK(s.state == ZSLAB_EPOCH_CLOSING,
                      "round %d thread %d level %d: domain %" PRIu64 " left open by an exited thread is %s",
                      r, i, level, w[i].ids[level], zt_state_name((uint32_t)s.state));
            }
        for (int i = 0; i < THREADS; i++)
            for (int k = 0; k < HANDED; k++) {
                CHECK_PATTERN(w[i].handed[k], 16, seed_of(r, i, k), "round %d thread %d handed object %d", r,
                              i, k);
                free(w[i].handed[k]);
            }
    }
    CHECK(d.current() == 0, "main thread in domain %" PRIu64, d.current());
    printf("%d domains left open by exiting threads seen CLOSING\n", checked);
    CHECK(checked >= ROUNDS * THREADS, "only %d of the exited threads' domains could be checked", checked);

    struct zslab_global_stats g1;
    zt_global(&z, &g1);
    printf("threads: %d rounds of %d exited inside 3 domains each; live objects %" PRIu64 " -> %" PRIu64
           "; remote frees %" PRIu64 "\n",
           ROUNDS, THREADS, g0.live_objects, g1.live_objects, g1.remote_frees);
    CHECK(g1.live_objects <= g0.live_objects + 64,
          "live objects grew from %" PRIu64 " to %" PRIu64 " though everything was freed", g0.live_objects,
          g1.live_objects);
    CHECK(g1.double_frees == 0 && g1.invalid_frees == 0, "double/invalid frees counted: %" PRIu64 "/%" PRIu64,
          g1.double_frees, g1.invalid_frees);
    ok("domains_threads");
    return 0;
}

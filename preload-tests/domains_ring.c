/* domains_ring: epoch domains and the 16-slot epoch ring. A domain's epoch
 * is a new era of its own; the README promises that a slot reused after
 * the ring wraps is never confused with its earlier incarnation, and
 * include/zslab.h that domains do not move the global epoch. So opening
 * many short domains must not take over a slot whose incarnation is still
 * in use:
 *
 *  - the global current epoch, labelled "global", stays what
 *    slab_stats_epoch(slab_epoch_current()) reports (its era is the global
 *    era, its state ACTIVE, its label "global", its live objects counted)
 *    after 40 domains were opened and closed;
 *  - a domain that stays open on one thread ("long-request") while another
 *    thread opens and closes 40 short ones keeps its slot: its era, ACTIVE
 *    state and label, and its objects counted there; its own exit closes
 *    it (CLOSING).
 *
 * Under glibc (run.sh none) the domain symbols are absent: skipped.
 */
#include "zslab_test.h"

#include <pthread.h>

static zslab_api z;
static zt_domain_api d;

enum { SHORT = 40, KEEP = 1000 };

static void short_domains(int n)
{
    for (int i = 0; i < n; i++) {
        char label[32];
        snprintf(label, sizeof label, "short-%d", i);
        uint64_t id = d.enter(label);
        CHECK(id != 0, "enter %s: %s", label, strerror(errno));
        void *p = malloc(128);
        CHECK(p, "malloc");
        free(p);
        CHECK(d.exit() == 0, "exit %s", label);
    }
}

static pthread_barrier_t bar;
static uint64_t long_id;
static void *long_objs[KEEP];

static void *long_request(void *arg)
{
    (void)arg;
    long_id = d.enter("long-request");
    CHECK(long_id != 0, "enter long-request: %s", strerror(errno));
    for (int i = 0; i < KEEP; i++)
        long_objs[i] = malloc(72);
    pthread_barrier_wait(&bar); /* 1: the other thread opens its domains */
    pthread_barrier_wait(&bar); /* 2: checked */
    CHECK(d.exit() == 0, "exit long-request");
    pthread_barrier_wait(&bar); /* 3 */
    return NULL;
}

int main(void)
{
    int have = zt_load(&z);
    int dom = zt_load_domains(&d);
    CHECK(have == dom, "epoch API and domain API disagree");
    watchdog(60);
    printf("domains_ring: %s\n", dom ? "zslab loaded" : "plain glibc");
    fflush(stdout);
    if (!dom) {
        printf("zslab not loaded: domain checks skipped\n");
        ok("domains_ring");
        return 0;
    }

    /* The global epoch. */
    unsigned cur = z.current();
    CHECK(z.set_label(cur, "global") == 0, "set_label");
    static void *glob[KEEP];
    for (int i = 0; i < KEEP; i++)
        glob[i] = malloc(56);
    struct zslab_global_stats g;
    zt_global(&z, &g);
    uint64_t era = g.current_era;
    short_domains(SHORT);
    zt_global(&z, &g);
    CHECK(g.current_era == era && z.current() == cur, "domains moved the global epoch (era %" PRIu64
          " -> %" PRIu64 ")", era, g.current_era);
    struct zslab_epoch_stats s;
    zt_epoch(&z, cur, &s);
    printf("global epoch %u after %d domains: era %" PRIu64 " (global era %" PRIu64 "), state %s, label \"%s\", "
           "%" PRIu64 " live\n", cur, SHORT, s.era, era, zt_state_name((uint32_t)s.state), s.label,
           s.live_objects);
    int bad = 0;
    if (s.era != era || s.state != ZSLAB_EPOCH_ACTIVE || strcmp(s.label, "global") != 0) {
        printf("FAIL-DETAIL: the current global epoch's slot was taken over by a domain\n");
        bad = 1;
    }
    if (s.live_objects < KEEP) {
        printf("FAIL-DETAIL: the global epoch counts %" PRIu64 " live objects, %d were allocated in it\n",
               s.live_objects, KEEP);
        bad = 1;
    }

    /* A long domain on another thread. */
    CHECK(pthread_barrier_init(&bar, NULL, 2) == 0, "barrier");
    pthread_t t;
    CHECK(pthread_create(&t, NULL, long_request, NULL) == 0, "create");
    pthread_barrier_wait(&bar); /* 1 */
    short_domains(SHORT);
    zt_epoch(&z, (unsigned)(long_id % ZSLAB_EPOCHS), &s);
    printf("open domain %" PRIu64 " after %d others: slot %u era %" PRIu64 ", state %s, label \"%s\", "
           "%" PRIu64 " live\n", long_id, SHORT, (unsigned)(long_id % ZSLAB_EPOCHS), s.era,
           zt_state_name((uint32_t)s.state), s.label, s.live_objects);
    if (s.era != long_id || s.state != ZSLAB_EPOCH_ACTIVE || strcmp(s.label, "long-request") != 0) {
        printf("FAIL-DETAIL: an open domain's slot was taken over by a later domain\n");
        bad = 1;
    }
    pthread_barrier_wait(&bar); /* 2 */
    pthread_barrier_wait(&bar); /* 3 */
    pthread_join(t, NULL);
    zt_epoch(&z, (unsigned)(long_id % ZSLAB_EPOCHS), &s);
    if (s.era == long_id && s.state != ZSLAB_EPOCH_CLOSING) {
        printf("FAIL-DETAIL: the long domain is %s after its exit\n", zt_state_name((uint32_t)s.state));
        bad = 1;
    }
    for (int i = 0; i < KEEP; i++) {
        free(glob[i]);
        free(long_objs[i]);
    }
    CHECK(!bad, "epoch slots in use were reopened for other domains (details on stdout)");
    ok("domains_ring");
    return 0;
}

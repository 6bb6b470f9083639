/* domains_nesting: epoch domains (include/zslab.h, slab_domain_*) on one
 * thread, used as documented.
 *
 *  - enter "req-A", allocate; enter "req-B" (nested), allocate: the two
 *    domains have different ids (eras), each its own epoch slot (id % 16,
 *    slab_epoch_era(slot) == id), labelled, ACTIVE; each domain's objects
 *    are counted in its own epoch (slab_stats_epoch, and the JSON of
 *    slab_stats_json), not in the other's nor in the global epoch;
 *    slab_domain_current() is the innermost id at every step;
 *  - exit "req-B": current is "req-A" again, B's epoch is CLOSING while A's
 *    stays ACTIVE; new allocations land in A again; exit "req-A": current 0,
 *    A's epoch CLOSING, allocations back in the global epoch, which did not
 *    move (domains do not advance it);
 *  - re-entering the innermost domain by its label counts: the same id,
 *    one exit leaves it open (ACTIVE, still current), the second closes it;
 *    re-entering a label that is not the innermost opens a new domain, and
 *    a NULL or empty label never re-enters;
 *  - memory comes back: a domain's objects freed before its last exit leave
 *    its epoch with no live object, no span and nothing cached after the
 *    close (the close gives its cached empty spans back);
 *  - every object stays intact throughout (patterns), and the closed
 *    domains' surviving objects remain usable and freeable.
 *
 * Under glibc (run.sh none) the domain symbols are absent: the allocation
 * part runs alone and the domain checks are skipped.
 */
#include "zslab_test.h"

#include <malloc.h>

enum { NA = 3000, NB = 5000, NC = 700, SZ = 48 };

static void *a_objs[NA], *b_objs[NB], *c_objs[NC];

static void alloc_set(void **v, int n, uint64_t seed)
{
    for (int i = 0; i < n; i++) {
        v[i] = malloc(SZ);
        CHECK(v[i], "malloc(%d)", SZ);
        fill_pattern(v[i], SZ, seed + (uint64_t)i);
    }
}

static void check_set(void **v, int n, uint64_t seed, const char *what)
{
    for (int i = 0; i < n; i++)
        if (v[i])
            CHECK_PATTERN(v[i], SZ, seed + (uint64_t)i, "%s object %d", what, i);
}

static void free_set(void **v, int n)
{
    for (int i = 0; i < n; i++) {
        free(v[i]);
        v[i] = NULL;
    }
}

static struct zslab_epoch_stats ep(const zslab_api *z, uint64_t id)
{
    struct zslab_epoch_stats s;
    zt_epoch(z, (unsigned)(id % ZSLAB_EPOCHS), &s);
    return s;
}

/* The JSON object of the epoch labelled `label` in slab_stats_json()'s
 * output contains `want` (e.g. "\"state_name\":\"closing\""). */
static int json_epoch_has(const zslab_api *z, const char *label, const char *want)
{
    static char buf[1 << 17];
    size_t n = z->stats_json(buf, sizeof buf);
    CHECK(n > 0 && n < sizeof buf, "slab_stats_json returned %zu", n);
    char key[64];
    snprintf(key, sizeof key, "\"label\":\"%s\"", label);
    char *at = strstr(buf, key);
    if (!at)
        return 0;
    char *open = at;
    while (open > buf && *open != '{')
        open--;
    char *close = strchr(at, '}');
    CHECK(close, "unterminated epoch object in the JSON");
    char saved = close[1];
    close[1] = 0;
    int has = strstr(open, want) != NULL;
    if (!has)
        printf("JSON epoch %s: %s\n", label, open);
    close[1] = saved;
    return has;
}

int main(void)
{
    zslab_api z;
    zt_domain_api d;
    int have = zt_load(&z);
    int dom = zt_load_domains(&d);
    CHECK(have == dom, "epoch API %s but domain API %s", have ? "present" : "absent",
          dom ? "present" : "absent");
    watchdog(60);
    /* stdout's buffer is allocated by the first output: before any domain,
     * so that it is not counted as a domain's object. */
    printf("domains_nesting: %s\n", dom ? "zslab loaded" : "plain glibc");
    fflush(stdout);

    if (!dom) {
        /* glibc: the allocations alone. */
        alloc_set(a_objs, NA, 0xA000);
        alloc_set(b_objs, NB, 0xB000);
        check_set(a_objs, NA, 0xA000, "A");
        check_set(b_objs, NB, 0xB000, "B");
        free_set(a_objs, NA);
        free_set(b_objs, NB);
        printf("zslab not loaded: domain checks skipped\n");
        ok("domains_nesting");
        return 0;
    }

    struct zslab_global_stats g0;
    zt_global(&z, &g0);
    unsigned global_epoch = z.current();
    uint64_t global_era = g0.current_era;
    CHECK(d.current() == 0, "slab_domain_current() is %" PRIu64 " outside any domain", d.current());

    /* ------------------------------------------------------- nesting */
    uint64_t a = d.enter("req-A");
    CHECK(a != 0, "slab_domain_enter(\"req-A\") failed: %s", strerror(errno));
    CHECK(d.current() == a, "current %" PRIu64 ", expected A %" PRIu64, d.current(), a);
    CHECK(z.era((unsigned)(a % ZSLAB_EPOCHS)) == a, "A's slot %u holds era %" PRIu64 ", not A's id %" PRIu64,
          (unsigned)(a % ZSLAB_EPOCHS), z.era((unsigned)(a % ZSLAB_EPOCHS)), a);
    struct zslab_epoch_stats sa = ep(&z, a);
    CHECK(sa.state == ZSLAB_EPOCH_ACTIVE && strcmp(sa.label, "req-A") == 0,
          "A's epoch: state %s label \"%s\"", zt_state_name((uint32_t)sa.state), sa.label);
    uint64_t a_live0 = sa.live_objects;
    alloc_set(a_objs, NA, 0xA000);
    sa = ep(&z, a);
    CHECK(sa.live_objects >= a_live0 + NA, "A's epoch counts %" PRIu64 " live objects after %d allocations",
          sa.live_objects, NA);

    uint64_t b = d.enter("req-B");
    CHECK(b != 0 && b != a, "enter(\"req-B\") inside A returned %" PRIu64 " (A is %" PRIu64 ")", b, a);
    CHECK(b % ZSLAB_EPOCHS != a % ZSLAB_EPOCHS, "A and B share epoch slot %u", (unsigned)(a % ZSLAB_EPOCHS));
    CHECK(d.current() == b, "current %" PRIu64 ", expected B %" PRIu64, d.current(), b);
    uint64_t a_before_b = ep(&z, a).live_objects;
    alloc_set(b_objs, NB, 0xB000);
    struct zslab_epoch_stats sb = ep(&z, b);
    sa = ep(&z, a);
    CHECK(sb.state == ZSLAB_EPOCH_ACTIVE && strcmp(sb.label, "req-B") == 0,
          "B's epoch: state %s label \"%s\"", zt_state_name((uint32_t)sb.state), sb.label);
    CHECK(sb.live_objects >= NB, "B's epoch counts %" PRIu64 " live objects after %d allocations",
          sb.live_objects, NB);
    CHECK(sa.live_objects < a_before_b + NB / 2,
          "B's allocations landed in A's epoch (%" PRIu64 " -> %" PRIu64 ")", a_before_b, sa.live_objects);
    struct zslab_epoch_stats sg = ep(&z, global_era);
    CHECK(sg.live_objects < NA / 2, "the global epoch holds %" PRIu64 " objects: domains' allocations leaked into it",
          sg.live_objects);
    CHECK(json_epoch_has(&z, "req-A", "\"state_name\":\"active\""), "JSON: req-A not active");
    CHECK(json_epoch_has(&z, "req-B", "\"state_name\":\"active\""), "JSON: req-B not active");
    printf("A id %" PRIu64 " (slot %u, %" PRIu64 " live), B id %" PRIu64 " (slot %u, %" PRIu64 " live)\n",
           a, (unsigned)(a % ZSLAB_EPOCHS), sa.live_objects, b, (unsigned)(b % ZSLAB_EPOCHS),
           sb.live_objects);

    /* B's objects are freed before it closes: nothing of B survives. */
    check_set(b_objs, NB, 0xB000, "B");
    free_set(b_objs, NB);
    CHECK(d.exit() == 0, "exit B: %s", strerror(errno));
    CHECK(d.current() == a, "after exit B current %" PRIu64 ", expected A %" PRIu64, d.current(), a);
    sb = ep(&z, b);
    sa = ep(&z, a);
    CHECK(sb.era == b && sb.state == ZSLAB_EPOCH_CLOSING, "B's epoch after its exit: era %" PRIu64 " state %s",
          sb.era, zt_state_name((uint32_t)sb.state));
    CHECK(sa.state == ZSLAB_EPOCH_ACTIVE, "A's epoch after B's exit: %s", zt_state_name((uint32_t)sa.state));
    /* Its empty spans wait in the hot caches for the next domain (a
     * request-scoped domain closes thousands of times a second: giving
     * them to the OS at each close would fault them in again at the next
     * request); malloc_trim gives them back at once. */
    CHECK(sb.live_objects == 0 && sb.slabs == 0,
          "closed B with every object freed still has %" PRIu64 " objects, %" PRIu64 " spans",
          sb.live_objects, sb.slabs);
    malloc_trim(0);
    sb = ep(&z, b);
    CHECK(sb.reclaimable_slabs == 0, "closed B still has %" PRIu64 " cached spans after malloc_trim",
          sb.reclaimable_slabs);
    CHECK(json_epoch_has(&z, "req-B", "\"state_name\":\"closing\""), "JSON: req-B not closing");

    /* Back in A: allocations count there again. */
    uint64_t a_mid = sa.live_objects;
    alloc_set(c_objs, NC, 0xC000);
    CHECK(ep(&z, a).live_objects >= a_mid + NC, "allocations after exit B did not land in A (%" PRIu64
          " -> %" PRIu64 ")", a_mid, ep(&z, a).live_objects);
    CHECK(ep(&z, b).live_objects == 0, "allocations after exit B landed in closed B");

    /* A keeps some objects past its close (a cache): every 10th. */
    for (int i = 0; i < NA; i++)
        if (i % 10) {
            free(a_objs[i]);
            a_objs[i] = NULL;
        }
    CHECK(d.exit() == 0, "exit A: %s", strerror(errno));
    CHECK(d.current() == 0, "after the outermost exit current is %" PRIu64, d.current());
    sa = ep(&z, a);
    CHECK(sa.era == a && sa.state == ZSLAB_EPOCH_CLOSING, "A's epoch after its exit: era %" PRIu64 " state %s",
          sa.era, zt_state_name((uint32_t)sa.state));
    CHECK(sa.live_objects >= NA / 10 + NC, "A's survivors: %" PRIu64 " live", sa.live_objects);
    CHECK(json_epoch_has(&z, "req-A", "\"state_name\":\"closing\""), "JSON: req-A not closing");

    /* Outside every domain: the global epoch, which domains did not move. */
    CHECK(z.current() == global_epoch, "the global epoch moved from %u to %u", global_epoch, z.current());
    struct zslab_global_stats g1;
    zt_global(&z, &g1);
    CHECK(g1.current_era == global_era, "the global era moved from %" PRIu64 " to %" PRIu64, global_era,
          g1.current_era);
    uint64_t g_before = ep(&z, global_era).live_objects;
    void *outside[500];
    for (int i = 0; i < 500; i++)
        outside[i] = malloc(SZ);
    CHECK(ep(&z, global_era).live_objects >= g_before + 500, "allocations after the outermost exit did not "
          "land in the global epoch");
    CHECK(ep(&z, a).live_objects < sa.live_objects + 250, "allocations after the outermost exit landed in A");
    for (int i = 0; i < 500; i++)
        free(outside[i]);

    /* A's survivors are intact and freeable. */
    check_set(a_objs, NA, 0xA000, "A survivor");
    check_set(c_objs, NC, 0xC000, "C");
    free_set(a_objs, NA);
    free_set(c_objs, NC);
    sa = ep(&z, a);
    CHECK(sa.live_objects == 0, "A still counts %" PRIu64 " live objects after all were freed", sa.live_objects);

    /* ----------------------------------------------- counted re-entry */
    uint64_t r1 = d.enter("session");
    uint64_t r2 = d.enter("session");
    uint64_t r3 = d.enter("session");
    CHECK(r1 != 0 && r1 == r2 && r2 == r3, "re-entering the innermost by its label: ids %" PRIu64 ", %" PRIu64
          ", %" PRIu64, r1, r2, r3);
    alloc_set(a_objs, 100, 0xD000);
    CHECK(d.exit() == 0 && d.exit() == 0, "inner exits of a counted domain");
    CHECK(d.current() == r1, "a counted domain closed before its last exit (current %" PRIu64 ")", d.current());
    CHECK(ep(&z, r1).state == ZSLAB_EPOCH_ACTIVE, "counted domain not ACTIVE before its last exit");
    alloc_set(b_objs, 100, 0xD100);
    CHECK(ep(&z, r1).live_objects >= 200, "the counted domain's epoch has %" PRIu64 " objects",
          ep(&z, r1).live_objects);
    /* A label that is not the innermost's opens a new domain, even one
     * used further out. */
    uint64_t inner = d.enter("other");
    uint64_t again = d.enter("session");
    CHECK(inner != 0 && again != 0 && inner != r1 && again != r1 && again != inner,
          "ids: session %" PRIu64 ", other %" PRIu64 ", session inside other %" PRIu64, r1, inner, again);
    CHECK(d.exit() == 0 && d.current() == inner, "exit the inner session");
    CHECK(d.exit() == 0 && d.current() == r1, "exit other");
    /* NULL and "" never re-enter. */
    uint64_t n1 = d.enter(NULL);
    uint64_t n2 = d.enter(NULL);
    uint64_t e1 = d.enter("");
    uint64_t e2 = d.enter("");
    CHECK(n1 && n2 && e1 && e2 && n1 != n2 && e1 != e2 && n2 != e1,
          "unlabelled domains re-entered: %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64, n1, n2, e1, e2);
    for (int i = 0; i < 4; i++)
        CHECK(d.exit() == 0, "exit unlabelled domain %d", i);
    CHECK(d.current() == r1, "after the unlabelled domains current %" PRIu64 ", expected %" PRIu64,
          d.current(), r1);
    free_set(a_objs, 100);
    free_set(b_objs, 100);
    CHECK(d.exit() == 0, "last exit of the counted domain");
    CHECK(d.current() == 0, "current %" PRIu64 " after the counted domain's last exit", d.current());
    malloc_trim(0);
    struct zslab_epoch_stats sr = ep(&z, r1);
    CHECK(sr.era == r1 && sr.state == ZSLAB_EPOCH_CLOSING && sr.live_objects == 0 && sr.reclaimable_slabs == 0,
          "counted domain after its last exit: era %" PRIu64 " state %s, %" PRIu64 " live, %" PRIu64
          " cached spans", sr.era, zt_state_name((uint32_t)sr.state), sr.live_objects, sr.reclaimable_slabs);

    /* The heap is still sound. */
    void *p = malloc(100);
    CHECK(p, "malloc after the domains");
    free(p);
    printf("domains %" PRIu64 " and %" PRIu64 " nested, counted domain %" PRIu64 "\n", a, b, r1);
    ok("domains_nesting");
    return 0;
}

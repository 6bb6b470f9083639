/* domains_misuse: epoch domains used wrongly on one thread are refused with
 * an error (include/zslab.h), never a corruption.
 *
 *  - slab_domain_exit() with no domain entered: -1, errno EINVAL, one line
 *    on stderr containing "slab_domain_exit refused"; the same for
 *    slab_domain_force_close() ("slab_domain_force_close refused");
 *  - depth: 32 nested domains (distinct labels) are entered; the 33rd
 *    returns 0 with errno EOVERFLOW and "slab_domain_enter refused" on
 *    stderr, and leaves the 32nd current; re-entering the innermost by its
 *    label at depth 32 is still counted (no new level); every level
 *    allocates objects that stay intact while the 32 levels unwind (there
 *    are more levels than epoch slots, so slots are reused by the deeper
 *    domains), and everything is freed at the end;
 *  - slab_domain_force_close(id) of an id that is not this thread's
 *    innermost (an enclosing domain, an unknown id, 0): -1, errno EPERM,
 *    "slab_domain_force_close refused"; nothing changes; force_close of the
 *    innermost closes it whatever its count (entered three times);
 *  - after the misuse the thread's domains work normally.
 * Each refused call is checked to print exactly one line on stderr (stderr
 * is captured around the call).
 *
 * Under glibc (run.sh none) the domain symbols are absent: the checks are
 * skipped.
 */
#include "zslab_test.h"

#include <fcntl.h>

/* ---- stderr capture around one call */

static int saved_err = -1;
static char cap_path[] = "/tmp/zslab-domains-misuse.XXXXXX";
static int cap_fd = -1;

static void capture_begin(void)
{
    fflush(stderr);
    if (cap_fd < 0) {
        cap_fd = mkstemp(cap_path);
        CHECK(cap_fd >= 0, "mkstemp: %s", strerror(errno));
        unlink(cap_path);
        saved_err = dup(2);
        CHECK(saved_err >= 0, "dup(2)");
    }
    CHECK(ftruncate(cap_fd, 0) == 0 && lseek(cap_fd, 0, SEEK_SET) == 0, "reset capture file");
    CHECK(dup2(cap_fd, 2) == 2, "dup2");
}

/* Restore stderr; the captured text in `buf`. */
static void capture_end(char *buf, size_t len)
{
    fflush(stderr);
    CHECK(dup2(saved_err, 2) == 2, "restore stderr");
    ssize_t n = pread(cap_fd, buf, len - 1, 0);
    buf[n > 0 ? n : 0] = 0;
}

static int lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

/* A refused call: its result, errno and its one line on stderr. */
#define REFUSED(call, want_ret, want_errno, text)                                        \
    do {                                                                                 \
        char out_[1024];                                                                 \
        capture_begin();                                                                 \
        errno = 0;                                                                       \
        long long r_ = (long long)(call);                                                \
        int e_ = errno;                                                                  \
        capture_end(out_, sizeof out_);                                                  \
        printf("%s -> %lld, errno %d (%s); stderr: %s", #call, r_, e_, strerror(e_),     \
               out_[0] ? out_ : "(nothing)\n");                                          \
        CHECK(r_ == (long long)(want_ret), "%s returned %lld, expected %lld", #call, r_, \
              (long long)(want_ret));                                                    \
        CHECK(e_ == (want_errno), "%s: errno %d (%s), expected %d (%s)", #call, e_,      \
              strerror(e_), (want_errno), strerror(want_errno));                         \
        CHECK(strstr(out_, (text)) != NULL, "%s: stderr lacks \"%s\": %s", #call, (text), \
              out_);                                                                     \
        CHECK(lines(out_) == 1, "%s printed %d lines on stderr", #call, lines(out_));    \
    } while (0)

enum { DEPTH = 32, PER_LEVEL = 300 };

static void *objs[DEPTH][PER_LEVEL];
static uint64_t ids[DEPTH];

static size_t size_of(int level, int i)
{
    return 16 + (size_t)((level * 131 + i * 17) % 1000);
}

int main(void)
{
    zslab_api z;
    zt_domain_api d;
    int have = zt_load(&z);
    int dom = zt_load_domains(&d);
    CHECK(have == dom, "epoch API and domain API disagree");
    watchdog(60);
    printf("domains_misuse: %s\n", dom ? "zslab loaded" : "plain glibc");
    fflush(stdout);
    if (!dom) {
        printf("zslab not loaded: domain checks skipped\n");
        ok("domains_misuse");
        return 0;
    }

    /* ------------------------------------------- nothing entered */
    CHECK(d.current() == 0, "current %" PRIu64 " before any domain", d.current());
    REFUSED(d.exit(), -1, EINVAL, "slab_domain_exit refused");
    REFUSED(d.force_close(1), -1, EINVAL, "slab_domain_force_close refused");
    CHECK(d.current() == 0, "current %" PRIu64 " after refused calls", d.current());

    /* ------------------------------------------------------ depth */
    for (int l = 0; l < DEPTH; l++) {
        char label[32];
        snprintf(label, sizeof label, "level-%d", l);
        ids[l] = d.enter(label);
        CHECK(ids[l] != 0, "enter level %d failed: %s", l, strerror(errno));
        CHECK(l == 0 || ids[l] != ids[l - 1], "level %d re-entered level %d", l, l - 1);
        CHECK(d.current() == ids[l], "current at level %d", l);
        for (int i = 0; i < PER_LEVEL; i++) {
            objs[l][i] = malloc(size_of(l, i));
            CHECK(objs[l][i], "malloc at level %d", l);
            fill_pattern(objs[l][i], size_of(l, i), (uint64_t)l << 20 | (uint64_t)i);
        }
    }
    REFUSED(d.enter("level-32"), 0, EOVERFLOW, "slab_domain_enter refused");
    CHECK(d.current() == ids[DEPTH - 1], "a refused enter changed the current domain");
    /* Re-entering the innermost by its label adds no level. */
    CHECK(d.enter("level-31") == ids[DEPTH - 1], "re-entering the innermost at full depth");
    CHECK(d.exit() == 0 && d.current() == ids[DEPTH - 1], "its exit leaves it current");
    REFUSED(d.enter(NULL), 0, EOVERFLOW, "slab_domain_enter refused");

    /* ------------------------------------- force_close, not innermost */
    REFUSED(d.force_close(ids[0]), -1, EPERM, "slab_domain_force_close refused");
    REFUSED(d.force_close(ids[DEPTH - 2]), -1, EPERM, "slab_domain_force_close refused");
    REFUSED(d.force_close(0), -1, EPERM, "slab_domain_force_close refused");
    REFUSED(d.force_close(ids[DEPTH - 1] + 1000000), -1, EPERM, "slab_domain_force_close refused");
    CHECK(d.current() == ids[DEPTH - 1], "refused force_close changed the current domain");

    /* Unwind, checking every level's objects on the way. */
    for (int l = DEPTH - 1; l >= 0; l--) {
        for (int k = 0; k <= l; k++)
            for (int i = 0; i < PER_LEVEL; i += 7)
                CHECK_PATTERN(objs[k][i], size_of(k, i), (uint64_t)k << 20 | (uint64_t)i,
                              "level %d object %d while unwinding level %d", k, i, l);
        /* More allocations at this level after the deeper ones closed. */
        void *extra = malloc(64);
        CHECK(extra, "malloc at level %d while unwinding", l);
        free(extra);
        CHECK(d.current() == ids[l], "current %" PRIu64 " at level %d, expected %" PRIu64, d.current(), l,
              ids[l]);
        CHECK(d.exit() == 0, "exit level %d: %s", l, strerror(errno));
    }
    CHECK(d.current() == 0, "current %" PRIu64 " after unwinding", d.current());
    REFUSED(d.exit(), -1, EINVAL, "slab_domain_exit refused");
    for (int l = 0; l < DEPTH; l++)
        for (int i = 0; i < PER_LEVEL; i++) {
            CHECK_PATTERN(objs[l][i], size_of(l, i), (uint64_t)l << 20 | (uint64_t)i, "level %d object %d", l,
                          i);
            free(objs[l][i]);
        }

    /* ---------------------------------- force_close of the innermost */
    uint64_t a = d.enter("outer");
    uint64_t b = d.enter("inner");
    CHECK(d.enter("inner") == b && d.enter("inner") == b, "counted re-entry");
    REFUSED(d.force_close(a), -1, EPERM, "slab_domain_force_close refused");
    CHECK(d.force_close(b) == 0, "force_close of the innermost (count 3): %s", strerror(errno));
    CHECK(d.current() == a, "after force_close current %" PRIu64 ", expected %" PRIu64, d.current(), a);
    struct zslab_epoch_stats s;
    zt_epoch(&z, (unsigned)(b % ZSLAB_EPOCHS), &s);
    CHECK(s.era == b && s.state == ZSLAB_EPOCH_CLOSING, "force-closed domain: era %" PRIu64 " state %s", s.era,
          zt_state_name((uint32_t)s.state));
    REFUSED(d.force_close(b), -1, EPERM, "slab_domain_force_close refused");
    CHECK(d.force_close(a) == 0 && d.current() == 0, "force_close of the last domain");
    REFUSED(d.force_close(a), -1, EINVAL, "slab_domain_force_close refused");

    /* Domains still work. */
    uint64_t c = d.enter("after");
    void *p = malloc(200);
    CHECK(c != 0 && p && d.current() == c, "a domain after the misuse");
    free(p);
    CHECK(d.exit() == 0 && d.current() == 0, "exit after the misuse");
    ok("domains_misuse");
    return 0;
}

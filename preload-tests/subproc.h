/* Helpers for preload tests that re-run themselves as child processes with
 * a different environment (failure injection variables, resource limits),
 * and read zslab's statistics from the JSON that slab_stats_json() returns.
 *
 *   zs_stat(key, &v)      v = the first number "key":v in slab_stats_json()
 *                         (the global figures come before the per-class and
 *                         per-epoch arrays); returns 0 when zslab is not
 *                         loaded or the key is absent.
 *   zs_stat_req(key, &v)  the same, but a missing key is a test failure
 *                         unless zslab is absent or inactive (empty JSON).
 *   run_self(...)         fork, apply NAME=value settings (NAME= unsets),
 *                         optionally an RLIMIT_AS, exec /proc/self/exe with
 *                         the given arguments; stdout and stderr of the child
 *                         are captured into a buffer.  LD_PRELOAD is
 *                         inherited, so the child runs under the same
 *                         allocator as the test.
 *   child_expect_ok(...)  run_self + require exit 0 and a line
 *                         "CHILD-OK"; on failure print the child's output
 *                         and fail the test.
 */
#ifndef ZSLAB_SUBPROC_H
#define ZSLAB_SUBPROC_H

#include "common.h"

#include <dlfcn.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

static UNUSED size_t (*zs_json_fn(void))(char *, size_t)
{
    static int looked;
    static size_t (*fn)(char *, size_t);
    if (!looked) {
        void *s = dlsym(RTLD_DEFAULT, "slab_stats_json");
        __builtin_memcpy(&fn, &s, sizeof s);
        looked = 1;
    }
    return fn;
}

/* The whole JSON document in a static buffer (not thread-safe; NULL when
 * zslab is not loaded). */
static UNUSED const char *zs_json(void)
{
    static char buf[1 << 17];
    size_t (*fn)(char *, size_t) = zs_json_fn();
    if (!fn)
        return NULL;
    size_t n = fn(buf, sizeof buf);
    CHECK(n < sizeof buf, "slab_stats_json needs %zu bytes", n);
    return buf;
}

static UNUSED int zs_stat(const char *key, uint64_t *out)
{
    const char *j = zs_json();
    if (!j)
        return 0;
    char pat[96];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *p = strstr(j, pat);
    if (!p)
        return 0;
    p += strlen(pat);
    char *end;
    unsigned long long v = strtoull(p, &end, 10);
    if (end == p)
        return 0;
    *out = v;
    return 1;
}

/* zs_stat that must find the key when zslab is loaded and active. Returns
 * 0 when zslab is not loaded, or when it returns an empty document (it has
 * stepped aside and forwards everything to glibc). */
static UNUSED int zs_stat_req(const char *key, uint64_t *out)
{
    if (!zs_json_fn() || zs_json()[0] == 0)
        return 0;
    if (!zs_stat(key, out))
        FAIL("slab_stats_json() has no numeric key \"%s\": %.300s", key, zs_json());
    return 1;
}

struct child_result {
    int status;     /* raw wait status */
    char out[65536]; /* stdout and stderr, interleaved, NUL-terminated */
    size_t len;
};

/* Run this program again: `args` (NULL-terminated, without argv[0]),
 * `env` (NULL-terminated "NAME=value" or "NAME=" to unset), `as_limit`
 * (bytes of RLIMIT_AS for the child, 0 for none).  The child's stdin is
 * /dev/null.  The result is written to *r. */
static UNUSED void run_self(const char *const *args, const char *const *env,
                            unsigned long long as_limit, struct child_result *r)
{
    int pfd[2];
    CHECK(pipe(pfd) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        close(pfd[0]);
        dup2(pfd[1], 1);
        dup2(pfd[1], 2);
        close(pfd[1]);
        for (const char *const *e = env; e && *e; e++) {
            char name[128];
            const char *eq = strchr(*e, '=');
            size_t n = eq ? (size_t)(eq - *e) : strlen(*e);
            if (n >= sizeof name)
                _exit(126);
            memcpy(name, *e, n);
            name[n] = 0;
            if (eq && eq[1])
                setenv(name, eq + 1, 1);
            else
                unsetenv(name);
        }
        if (as_limit) {
            struct rlimit rl;
            getrlimit(RLIMIT_AS, &rl);
            rl.rlim_cur = as_limit;
            if (setrlimit(RLIMIT_AS, &rl) != 0) {
                perror("setrlimit(RLIMIT_AS)");
                _exit(126);
            }
        }
        const char *argv[32];
        int n = 0;
        argv[n++] = "child";
        for (const char *const *a = args; a && *a && n < 31; a++)
            argv[n++] = *a;
        argv[n] = NULL;
        execv("/proc/self/exe", (char *const *)argv);
        perror("execv /proc/self/exe");
        _exit(127);
    }
    close(pfd[1]);
    r->len = 0;
    for (;;) {
        char tmp[4096];
        ssize_t k = read(pfd[0], tmp, sizeof tmp);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        size_t room = sizeof r->out - 1 - r->len;
        size_t take = (size_t)k < room ? (size_t)k : room;
        memcpy(r->out + r->len, tmp, take);
        r->len += take;
    }
    r->out[r->len] = 0;
    close(pfd[0]);
    CHECK(waitpid(pid, &r->status, 0) == pid, "waitpid: %s", strerror(errno));
}

static UNUSED void describe_status(int st, char *buf, size_t len)
{
    if (WIFEXITED(st))
        snprintf(buf, len, "exit status %d", WEXITSTATUS(st));
    else if (WIFSIGNALED(st))
        snprintf(buf, len, "killed by signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
    else
        snprintf(buf, len, "wait status 0x%x", st);
}

/* Print the child's captured output, indented, to stderr. */
static UNUSED void show_child(const char *what, const struct child_result *r)
{
    char st[96];
    describe_status(r->status, st, sizeof st);
    fprintf(stderr, "---- %s: %s; output:\n", what, st);
    const char *p = r->out;
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        fprintf(stderr, "  | %.*s\n", n, p);
        p += n + (nl ? 1 : 0);
    }
    fflush(stderr);
}

/* Find "key=<number>" in a child's output (its own report lines). */
static UNUSED int child_value(const struct child_result *r, const char *key, uint64_t *v)
{
    char pat[96];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = r->out;
    size_t kl = strlen(pat);
    while ((p = strstr(p, pat))) {
        if (p == r->out || p[-1] == ' ' || p[-1] == '\n') {
            char *end;
            unsigned long long x = strtoull(p + kl, &end, 10);
            if (end != p + kl) {
                *v = x;
                return 1;
            }
        }
        p += kl;
    }
    return 0;
}

static UNUSED int child_succeeded(const struct child_result *r)
{
    return WIFEXITED(r->status) && WEXITSTATUS(r->status) == 0 &&
           strstr(r->out, "CHILD-OK") != NULL;
}

/* Run a child that must succeed; fail the test (showing its output)
 * otherwise. */
static UNUSED void child_expect_ok(const char *what, const char *const *args,
                                   const char *const *env, unsigned long long as_limit,
                                   struct child_result *r)
{
    run_self(args, env, as_limit, r);
    if (!child_succeeded(r)) {
        show_child(what, r);
        FAIL("%s failed (see its output above)", what);
    }
}

#endif

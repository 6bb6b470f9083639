/* Helpers for the tests of medium and large blocks (above 8 KiB) and of
 * memory return (large_*.c, mr_*.c).
 *
 * These tests state the contract that every block, whatever its size, comes
 * from zslab's own memory.  They use nothing of zslab's but two things, both
 * looked up at run time so that the same binary runs under plain glibc
 * (`run.sh none`):
 *
 *  - glibc's own mallinfo2(), resolved in libc.so.6 itself (not the
 *    interposed one): if a block came from glibc, glibc's in-use bytes
 *    (uordblks + hblkhd) grow by its size.  `lt_glibc_bytes()`.
 *  - zslab's statistics as JSON (`slab_stats_json`), read by key name with
 *    strstr so that a renamed or dropped key skips the check instead of
 *    failing to compile: `lt_stat()`, `lt_live_bytes()`.
 *
 * Plus RSS (current and peak) from /proc, a monotonic clock and sleeps, and
 * a "twin" runner that re-executes the test binary with an argument and
 * reads back the numbers it prints (used for kept-only baselines measured
 * in a fresh process under the same allocator).
 */
#ifndef ZSLAB_LARGE_TEST_H
#define ZSLAB_LARGE_TEST_H

#include "common.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/wait.h>
#include <time.h>

#define KiB ((size_t)1024)
#define MiBz ((size_t)1024 * 1024)
#define MB(x) ((double)(x) / 1048576.0)

/* ------------------------------------------------------------ glibc side */

typedef struct mallinfo2 (*lt_mallinfo2_fn)(void);

/* glibc's own mallinfo2, found in libc.so.6 (dlsym on libc's handle
 * searches libc, never the preloaded library). */
static UNUSED lt_mallinfo2_fn lt_glibc_mallinfo2(void)
{
    static lt_mallinfo2_fn fn;
    static int tried;
    if (!tried) {
        tried = 1;
        void *h = dlopen("libc.so.6", RTLD_LAZY | RTLD_NOLOAD);
        CHECK(h != NULL, "dlopen(libc.so.6, RTLD_NOLOAD): %s", dlerror());
        void *s = dlvsym(h, "mallinfo2", "GLIBC_2.33");
        if (!s)
            s = dlsym(h, "mallinfo2");
        CHECK(s != NULL, "glibc's mallinfo2 not found in libc.so.6");
        __builtin_memcpy(&fn, &s, sizeof fn);
        Dl_info info;
        CHECK(dladdr(s, &info) && info.dli_fname && strstr(info.dli_fname, "libc.so"),
              "glibc's mallinfo2 resolved to %s, not libc", info.dli_fname ? info.dli_fname : "?");
    }
    return fn;
}

/* Bytes glibc's own allocator has handed out and not got back (its arenas'
 * in-use bytes plus its mmapped chunks). */
static UNUSED size_t lt_glibc_bytes(void)
{
    if (mode_is_glibc())
        return 0; /* not needed (and slow: glibc walks its bins) */
    struct mallinfo2 mi = lt_glibc_mallinfo2()();
    return mi.uordblks + mi.hblkhd;
}

/* ------------------------------------------------------------ zslab side */

typedef size_t (*lt_json_fn)(char *, size_t);

static UNUSED lt_json_fn lt_json(void)
{
    static lt_json_fn fn;
    static int tried;
    if (!tried) {
        tried = 1;
        void *s = dlsym(RTLD_DEFAULT, "slab_stats_json");
        if (s)
            __builtin_memcpy(&fn, &s, sizeof fn);
        if (!mode_is_glibc())
            CHECK(fn != NULL, "zslab mode but slab_stats_json is not found "
                              "(is LD_PRELOAD set to libzslab.so?)");
    }
    return fn;
}

/* The statistics JSON, in a static buffer (no malloc).  NULL under glibc. */
static char lt_json_buf[4 << 20];
static UNUSED const char *lt_stats_json(void)
{
    lt_json_fn f = lt_json();
    if (!f)
        return NULL;
    size_t n = f(lt_json_buf, sizeof lt_json_buf);
    CHECK(n < sizeof lt_json_buf, "statistics JSON is %zu bytes, buffer %zu", n,
          sizeof lt_json_buf);
    return lt_json_buf;
}

/* End of the top-level object's own scalar fields: the first '[' or a
 * nested '{' (per-class and per-epoch arrays come after). */
static UNUSED const char *lt_top_end(const char *j)
{
    const char *e = j + 1;
    while (*e && *e != '[' && *e != '{')
        e++;
    return e;
}

/* Top-level numeric field `key` of the statistics.  Returns 1 and sets *out
 * when present, 0 when absent (or not loaded). */
static UNUSED int lt_stat_in(const char *j, const char *key, uint64_t *out)
{
    if (!j)
        return 0;
    char pat[128];
    snprintf(pat, sizeof pat, "\"%s\":", key);
    const char *end = lt_top_end(j);
    const char *p = strstr(j, pat);
    if (!p || p >= end)
        return 0;
    p += strlen(pat);
    if (*p < '0' || *p > '9')
        return 0;
    *out = strtoull(p, NULL, 10);
    return 1;
}

static UNUSED int lt_stat(const char *key, uint64_t *out)
{
    return lt_stat_in(lt_stats_json(), key, out);
}

/* Sum of every top-level numeric field whose name contains `part` (e.g.
 * "live_bytes": the small, medium and large live bytes however the
 * statistics split them).  Returns the number of fields found. */
static UNUSED int lt_sum_fields_in(const char *j, const char *part, uint64_t *sum)
{
    *sum = 0;
    if (!j)
        return 0;
    const char *end = lt_top_end(j), *p = j;
    int found = 0;
    while (p < end && (p = strchr(p, '"')) != NULL && p < end) {
        const char *q = strchr(p + 1, '"');
        if (!q || q >= end)
            break;
        size_t len = (size_t)(q - p - 1);
        char name[96];
        if (len < sizeof name && q[1] == ':' && q[2] >= '0' && q[2] <= '9') {
            memcpy(name, p + 1, len);
            name[len] = 0;
            if (strstr(name, part)) {
                *sum += strtoull(q + 2, NULL, 10);
                found++;
            }
        }
        p = q + 1;
    }
    return found;
}

static UNUSED int lt_check_origin(void);
static UNUSED int lt_live_bytes(uint64_t *sum)
{
    if (!lt_check_origin()) {
        *sum = 0;
        return 0;
    }
    return lt_sum_fields_in(lt_stats_json(), "live_bytes", sum);
}

/* --------------------------------------------------------- "from zslab" */

/* Checks that a block of `n` bytes just allocated came from zslab: glibc's
 * in-use bytes did not move by (anything near) n.  Usage:
 *     size_t g = lt_glibc_bytes(); p = malloc(n); LT_FROM_ZSLAB(g, n, ...);
 * Single-threaded sections only.  No-op under glibc. */
static UNUSED int lt_from_glibc(size_t g_before, size_t n)
{
    size_t g = lt_glibc_bytes();
    size_t grew = g > g_before ? g - g_before : 0;
    return n >= 4096 && grew >= n / 2;
}

/* LT_SKIP_ORIGIN=1 in the environment turns the "from zslab" checks off
 * (diagnosis only: to see whether anything else fails). */
static UNUSED int lt_check_origin(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("LT_SKIP_ORIGIN");
        v = !mode_is_glibc() && !(e && *e == '1');
    }
    return v;
}

#define LT_FROM_ZSLAB(g_before, n, what, ...)                                      \
    do {                                                                           \
        if (lt_check_origin() && lt_from_glibc((g_before), (n)))                   \
            FAIL("%zu-byte block from " what " was served by glibc's allocator "   \
                 "(glibc's in-use bytes grew by %zu), not by zslab",               \
                 (size_t)(n), ##__VA_ARGS__, lt_glibc_bytes() - (g_before));       \
    } while (0)

/* ------------------------------------------------------------------ RSS */

static UNUSED uint64_t lt_rss(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open /proc/self/statm: %s", strerror(errno));
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read /proc/self/statm");
    buf[n] = 0;
    unsigned long long size = 0, resident = 0;
    CHECK(sscanf(buf, "%llu %llu", &size, &resident) == 2, "parse statm '%s'", buf);
    return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

/* Peak RSS (VmHWM) in bytes, from /proc/self/status (no stdio). */
static UNUSED uint64_t lt_peak_rss(void)
{
    static char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
    CHECK(fd >= 0, "open /proc/self/status");
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    CHECK(n > 0, "read /proc/self/status");
    buf[n] = 0;
    const char *p = strstr(buf, "VmHWM:");
    CHECK(p != NULL, "no VmHWM in /proc/self/status");
    return strtoull(p + 6, NULL, 10) * 1024;
}

static UNUSED double lt_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static UNUSED void lt_sleep_ms(unsigned ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

/* Touch one byte per page of [p, p+n) (makes the pages resident). */
static UNUSED void lt_touch(void *p, size_t n, unsigned char v)
{
    volatile unsigned char *c = p;
    for (size_t i = 0; i < n; i += 4096)
        c[i] = v;
    if (n)
        c[n - 1] = v;
}

/* ------------------------------------------------------------ twin runs */

/* Run this program again (/proc/self/exe) with `arg` as its only argument,
 * in a fresh process under the same environment (so the same LD_PRELOAD),
 * and return its stdout in `out` (NUL-terminated).  Fails the test if the
 * twin does not exit 0.  Uses fork/exec/pipe only. */
static UNUSED void lt_run_twin(const char *arg, char *out, size_t outlen)
{
    int fds[2];
    CHECK(pipe(fds) == 0, "pipe: %s", strerror(errno));
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(fds[1], 1);
        close(fds[0]);
        close(fds[1]);
        char *const argv[] = {(char *)"twin", (char *)arg, NULL};
        execv("/proc/self/exe", argv);
        _exit(127);
    }
    close(fds[1]);
    size_t got = 0;
    for (;;) {
        ssize_t r = read(fds[0], out + got, outlen - 1 - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
        CHECK(got < outlen - 1, "twin output too long");
    }
    out[got] = 0;
    close(fds[0]);
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0,
          "twin run (%s) failed: status %#x; its output:\n%s", arg, st, out);
}

/* Value of `name=<u64>` in a twin's output (0 and a failure if absent). */
static UNUSED uint64_t lt_twin_value(const char *out, const char *name)
{
    char pat[96];
    snprintf(pat, sizeof pat, "\n%s=", name);
    const char *p = strstr(out, pat);
    CHECK(p != NULL, "twin output has no %s=:\n%s", name, out);
    return strtoull(p + strlen(pat), NULL, 10);
}

#endif

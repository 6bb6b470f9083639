// expect: exit 0
/* fail_thread: zslab's background thread cannot be created
 * (ZSLAB_FAIL_THREAD=1); nothing changes but timing.
 *
 * The test runs a child twice with ZSLAB_DECAY_MS=100: once as the control,
 * once with ZSLAB_FAIL_THREAD=1.  The child is a multi-threaded program (a
 * second thread sleeps on a pipe) that keeps 2,000 pattern-filled blocks,
 * allocates and frees 16 MiB of small blocks (so the hot caches hold well
 * over 256 KiB: reason enough for zslab to want its decay thread), runs a
 * little traffic, and goes idle for 600 ms.  It reports the statistics
 * (background_thread, cached_slabs, decayed_slabs) and whether a thread named
 * "zslab-bg" exists, then runs light traffic until the cache has drained
 * (at most 5 s) and reports how long that took.  Finally it checks every kept
 * block.
 * Under zslab:
 *  - control: background_thread = 1, a zslab-bg thread exists (else the
 *    workload no longer provokes the thread and the test proves nothing);
 *  - injected: background_thread = 0, no zslab-bg thread, and the cached
 *    slabs still go back to the OS once the program allocates again (decay
 *    from the allocation path): only the timing differs.
 * Both: exit 0, all blocks intact.
 */
#include "subproc.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <time.h>

static void *sleeper(void *arg)
{
    int *fd = arg;
    char c;
    ssize_t r UNUSED = read(fd[0], &c, 1);
    return NULL;
}

static void churn(size_t bytes)
{
    size_t n = bytes / 544 + 16, total = 0, i = 0;
    void **v = calloc(n, sizeof *v);
    CHECK(v != NULL, "calloc");
    while (total < bytes && i < n) {
        size_t sz = 64 + (i * 7919) % 961;
        v[i] = malloc(sz);
        CHECK(v[i] != NULL, "malloc(%zu)", sz);
        memset(v[i], 1, sz);
        total += sz;
        i++;
    }
    for (size_t j = 0; j < i; j++)
        free(v[j]);
    free(v);
}

static void traffic(int n)
{
    for (int i = 0; i < n; i++) {
        void *p = malloc(32 + (size_t)(i & 63));
        CHECK(p != NULL, "malloc");
        *(volatile char *)p = 1;
        free(p);
    }
}

static int decay_thread_exists(void)
{
    DIR *d = opendir("/proc/self/task");
    CHECK(d != NULL, "opendir /proc/self/task");
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[64], comm[64] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", e->d_name);
        int fd = open(path, O_RDONLY);
        if (fd < 0)
            continue;
        ssize_t n = read(fd, comm, sizeof comm - 1);
        close(fd);
        if (n > 0 && strncmp(comm, "zslab-bg", 8) == 0)
            found = 1;
    }
    closedir(d);
    return found;
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static int child(void)
{
    enum { KEEP = 2000 };
    static void *keep[KEEP];
    static size_t keep_n[KEEP];
    rng_t r;
    rng_seed(&r, 3);
    for (int i = 0; i < KEEP; i++) {
        keep_n[i] = (size_t)rng_range(&r, 16, 2048);
        keep[i] = malloc(keep_n[i]);
        CHECK(keep[i] != NULL, "malloc");
        fill_pattern(keep[i], keep_n[i], (uint64_t)i);
    }
    int fd[2];
    pthread_t t;
    CHECK(pipe(fd) == 0, "pipe");
    CHECK(pthread_create(&t, NULL, sleeper, fd) == 0, "pthread_create");
    churn(16 << 20);
    traffic(20000);
    struct timespec idle = {0, 600 * 1000 * 1000};
    nanosleep(&idle, NULL);
    uint64_t bg = 0, cached = 0, decayed = 0;
    int zs = zs_stat_req("background_thread", &bg);
    if (zs) {
        zs_stat_req("cached_slabs", &cached);
        zs_stat_req("decayed_slabs", &decayed);
    }
    int named = decay_thread_exists();
    printf("zslab=%d background_thread=%llu decay_thread_named=%d idle_cached_slabs=%llu "
           "idle_decayed_slabs=%llu\n",
           zs, (unsigned long long)bg, named, (unsigned long long)cached,
           (unsigned long long)decayed);
    /* Allocate again until the cache has drained. */
    double t0 = now(), waited = 0;
    if (zs) {
        while (cached > 0 && (waited = now() - t0) < 5.0) {
            traffic(5000);
            struct timespec nap = {0, 10 * 1000 * 1000};
            nanosleep(&nap, NULL);
            zs_stat_req("cached_slabs", &cached);
        }
        zs_stat_req("decayed_slabs", &decayed);
    }
    printf("drained_cached_slabs=%llu drain_ms=%llu decayed_slabs=%llu\n",
           (unsigned long long)cached, (unsigned long long)(waited * 1000),
           (unsigned long long)decayed);
    ssize_t w UNUSED = write(fd[1], "x", 1);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    for (int i = 0; i < KEEP; i++) {
        CHECK_PATTERN(keep[i], keep_n[i], (uint64_t)i, "kept block %d", i);
        free(keep[i]);
    }
    printf("CHILD-OK\n");
    return 0;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "--child") == 0)
        return child();
    watchdog(100);
    static struct child_result ctl, inj;
    const char *args[] = {"--child", NULL};
    const char *env_ctl[] = {"ZSLAB_DECAY_MS=100", "ZSLAB_BACKGROUND=on", "ZSLAB_FAIL_THREAD=",
                             NULL};
    const char *env_inj[] = {"ZSLAB_DECAY_MS=100", "ZSLAB_BACKGROUND=on",
                             "ZSLAB_FAIL_THREAD=1", NULL};
    child_expect_ok("control child", args, env_ctl, 0, &ctl);
    child_expect_ok("child with ZSLAB_FAIL_THREAD=1", args, env_inj, 0, &inj);
    printf("control:  %s", strstr(ctl.out, "zslab="));
    printf("injected: %s", strstr(inj.out, "zslab="));
    uint64_t zs = 0;
    child_value(&ctl, "zslab", &zs);
    if (zs && !mode_is_glibc()) {
        uint64_t bg = 0, named = 0, cached = 1;
        child_value(&ctl, "background_thread", &bg);
        child_value(&ctl, "decay_thread_named", &named);
        CHECK(bg == 1 && named == 1,
              "control: background_thread=%llu, zslab-bg thread present=%llu: the "
              "workload no longer starts zslab's background thread",
              (unsigned long long)bg, (unsigned long long)named);
        child_value(&inj, "background_thread", &bg);
        child_value(&inj, "decay_thread_named", &named);
        child_value(&inj, "drained_cached_slabs", &cached);
        int bad = 0;
        if (bg != 0 || named != 0) {
            fprintf(stderr,
                    "FAIL: with ZSLAB_FAIL_THREAD=1: background_thread=%llu, zslab-decay "
                    "thread present=%llu (expected 0 and 0: the variable is not honoured)\n",
                    (unsigned long long)bg, (unsigned long long)named);
            bad = 1;
        }
        if (cached != 0) {
            fprintf(stderr,
                    "FAIL: with ZSLAB_FAIL_THREAD=1: %llu cached slabs still held after 5 s "
                    "of allocation traffic with ZSLAB_DECAY_MS=100 (decay must not depend "
                    "on the thread)\n",
                    (unsigned long long)cached);
            bad = 1;
        }
        if (bad)
            return 1;
    }
    ok("fail_thread");
    return 0;
}

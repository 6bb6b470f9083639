// expect: exit 0
/* dlopen_lib: a shared library that allocates in its constructor and frees
 * in its destructor, dlopened and dlclosed 150 times.
 *
 * The library is preload-tests/lib/dlopen_helper.c, built at run time with
 * `gcc -O2 -shared -fPIC` (without LD_PRELOAD) into build/.  Each round:
 *  - dlopen (RTLD_NOW, alternating RTLD_LOCAL / RTLD_GLOBAL); the
 *    constructor's blocks must be intact (helper_check);
 *  - blocks cross the boundary both ways: the library allocates blocks the
 *    program keeps past dlclose, the program's blocks are realloc'd and
 *    freed inside the library, malloc_usable_size is asked on both sides;
 *  - three threads touch the library's 64 KiB __thread array (glibc
 *    allocates dynamic TLS with malloc and frees it at thread exit and
 *    dlclose) while the main thread keeps allocating;
 *  - dlopen of a missing file (dlerror allocates its message);
 *  - dlclose: the destructor checks and frees the constructor's blocks
 *    (it aborts on corruption); the blocks kept from the library are
 *    checked and freed one round later.
 * Then two threads dlopen/dlclose concurrently for 40 rounds each while a
 * third allocates.
 */
#include "common.h"

#include <dlfcn.h>
#include <libgen.h>
#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>

struct helper {
    void *h;
    int (*check)(void);
    void *(*alloc)(size_t, int);
    void (*free_)(void *);
    void *(*realloc_)(void *, size_t);
    size_t (*usable)(void *);
    int (*tls)(int);
};

static char so_path[4096];

static void build_helper(void)
{
    char exe[4096], src[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    CHECK(n > 0, "readlink /proc/self/exe");
    exe[n] = 0;
    char *bdir = dirname(exe); /* .../preload-tests/build */
    snprintf(so_path, sizeof so_path, "%s/libdlopen_helper.so", bdir);
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", bdir);
    snprintf(src, sizeof src, "%s/lib/dlopen_helper.c", dirname(tmp));
    CHECK(access(src, R_OK) == 0, "helper source %s not found", src);
    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        unsetenv("LD_PRELOAD"); /* build with the system allocator */
        execlp("gcc", "gcc", "-O2", "-g", "-Wall", "-Werror", "-shared", "-fPIC", "-pthread",
               "-o", so_path, src, (char *)NULL);
        perror("exec gcc");
        _exit(127);
    }
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "building %s from %s failed (status 0x%x)",
          so_path, src, st);
}

static void sym(void *h, const char *name, void *out)
{
    void *s = dlsym(h, name);
    CHECK(s != NULL, "dlsym(%s): %s", name, dlerror());
    __builtin_memcpy(out, &s, sizeof s);
}

static void open_helper(struct helper *x, int global)
{
    x->h = dlopen(so_path, RTLD_NOW | (global ? RTLD_GLOBAL : RTLD_LOCAL));
    CHECK(x->h != NULL, "dlopen(%s): %s", so_path, dlerror());
    sym(x->h, "helper_check", &x->check);
    sym(x->h, "helper_alloc", &x->alloc);
    sym(x->h, "helper_free", &x->free_);
    sym(x->h, "helper_realloc", &x->realloc_);
    sym(x->h, "helper_usable", &x->usable);
    sym(x->h, "helper_tls", &x->tls);
    int c = x->check();
    CHECK(c == 0, "the helper's constructor blocks are bad right after dlopen (%d)", c);
}

struct kept {
    void *p;
    size_t n;
    uint64_t seed;
};

static struct helper cur;
static atomic_int tls_errors;

static void *tls_thread(void *arg)
{
    int v = (int)(intptr_t)arg;
    for (int i = 0; i < 5; i++) {
        int s = cur.tls(v);
        if (s != v * 16)
            atomic_fetch_add(&tls_errors, 1);
        void *p = malloc(100 + (size_t)i * 1000);
        CHECK(p != NULL, "malloc in TLS thread");
        free(p);
    }
    return NULL;
}

static void rounds(int n, rng_t *r)
{
    struct kept kept[8] = {{0}};
    for (int round = 0; round < n; round++) {
        open_helper(&cur, round & 1);
        /* blocks from the library, kept past dlclose */
        for (int i = 0; i < 8; i++) {
            if (kept[i].p) {
                CHECK_PATTERN(kept[i].p, kept[i].n, kept[i].seed,
                              "block from the previous library instance");
                free(kept[i].p);
            }
            kept[i].n = (size_t)(i == 7 ? rng_range(r, 100000, 2000000) : rng_range(r, 1, 9000));
            kept[i].p = cur.alloc(kept[i].n, i);
            CHECK(kept[i].p != NULL, "helper_alloc(%zu)", kept[i].n);
            CHECK(malloc_usable_size(kept[i].p) >= kept[i].n, "usable size of a helper block");
            kept[i].seed = rng_next(r);
            fill_pattern(kept[i].p, kept[i].n, kept[i].seed);
        }
        /* the program's blocks, grown and freed by the library */
        for (int i = 0; i < 6; i++) {
            size_t m = (size_t)rng_range(r, 1, 6000);
            uint64_t seed = rng_next(r);
            char *p = malloc(m);
            CHECK(p != NULL, "malloc");
            fill_pattern(p, m, seed);
            CHECK(cur.usable(p) == malloc_usable_size(p), "usable size differs across the "
                  "library boundary");
            size_t m2 = m * 3 + 10;
            char *q = cur.realloc_(p, m2);
            CHECK(q != NULL, "helper_realloc");
            CHECK_PATTERN(q, m, seed, "realloc inside the library");
            cur.free_(q);
        }
        /* dynamic TLS in threads */
        pthread_t th[3];
        for (int i = 0; i < 3; i++)
            CHECK(pthread_create(&th[i], NULL, tls_thread, (void *)(intptr_t)(i + 1)) == 0,
                  "pthread_create");
        for (int i = 0; i < 50; i++)
            free(malloc((size_t)rng_range(r, 1, 20000)));
        for (int i = 0; i < 3; i++)
            CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
        CHECK(atomic_load(&tls_errors) == 0, "the library's TLS lost writes");
        if (round % 10 == 0) {
            void *bad = dlopen("/nonexistent/libzslab-test-missing.so", RTLD_NOW);
            CHECK(bad == NULL, "dlopen of a missing file succeeded");
            const char *msg = dlerror();
            CHECK(msg != NULL && strstr(msg, "nonexistent"), "dlerror: %s", msg ? msg : "NULL");
        }
        CHECK(cur.check() == 0, "constructor blocks before dlclose");
        CHECK(dlclose(cur.h) == 0, "dlclose: %s", dlerror());
    }
    for (int i = 0; i < 8; i++) {
        CHECK_PATTERN(kept[i].p, kept[i].n, kept[i].seed, "block from the last instance");
        free(kept[i].p);
    }
}

static atomic_int stop;

static void *concurrent_opener(void *arg)
{
    (void)arg;
    for (int i = 0; i < 40; i++) {
        void *h = dlopen(so_path, RTLD_NOW | RTLD_LOCAL);
        CHECK(h != NULL, "dlopen: %s", dlerror());
        int (*check)(void);
        sym(h, "helper_check", &check);
        CHECK(check() == 0, "constructor blocks (concurrent)");
        CHECK(dlclose(h) == 0, "dlclose");
    }
    return NULL;
}

static void *allocator(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(intptr_t)arg);
    void *slots[64] = {0};
    while (!atomic_load(&stop)) {
        unsigned i = (unsigned)rng_below(&r, 64);
        free(slots[i]);
        slots[i] = malloc((size_t)rng_range(&r, 1, 5000));
        CHECK(slots[i] != NULL, "malloc");
    }
    for (int i = 0; i < 64; i++)
        free(slots[i]);
    return NULL;
}

int main(void)
{
    watchdog(110);
    build_helper();
    rng_t r;
    rng_seed(&r, 11);
    rounds(150, &r);

    pthread_t a, b, c;
    CHECK(pthread_create(&c, NULL, allocator, (void *)7) == 0, "pthread_create");
    CHECK(pthread_create(&a, NULL, concurrent_opener, NULL) == 0, "pthread_create");
    CHECK(pthread_create(&b, NULL, concurrent_opener, NULL) == 0, "pthread_create");
    CHECK(pthread_join(a, NULL) == 0 && pthread_join(b, NULL) == 0, "pthread_join");
    atomic_store(&stop, 1);
    CHECK(pthread_join(c, NULL) == 0, "pthread_join");
    printf("150 dlopen/dlclose rounds, then 2 x 40 concurrent\n");
    ok("dlopen_lib");
    return 0;
}

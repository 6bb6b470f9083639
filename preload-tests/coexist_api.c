// expect: exit 0
/* coexist_api: the malloc API as a typical program uses it, including
 * memory that glibc functions allocate and the program frees.  It uses only
 * what every malloc replacement provides (no pvalloc, no cfree), so
 * scripts/test-coexistence.sh also runs it under valgrind, as an
 * AddressSanitizer build, and with zslab next to jemalloc or mimalloc in
 * LD_PRELOAD; run.sh runs it like any other test.
 *
 *  - malloc, calloc, realloc, reallocarray, posix_memalign, aligned_alloc,
 *    memalign, valloc, malloc_usable_size, free: sizes 0 B..8 MiB, checked
 *    with patterns, 16-byte and requested alignment, usable size;
 *  - blocks allocated by glibc and freed (or realloc'd) by the program:
 *    strdup, strndup, asprintf, getline, getdelim, open_memstream,
 *    realpath(p, NULL), getcwd(NULL, 0), scandir, glob/globfree,
 *    regcomp/regfree, setenv, tsearch/tdestroy, fopen/fclose, qsort;
 *  - malloc_trim, mallinfo2, malloc_info;
 *  - two threads freeing each other's blocks.
 * It prints which object provides `malloc` (dladdr) and, when zslab is
 * loaded, zslab's small_allocs, so a caller can tell which allocator won.
 */
#include "common.h"

#include <dirent.h>
#include <dlfcn.h>
#include <glob.h>
#include <limits.h>
#include <pthread.h>
#include <regex.h>
#include <search.h>
#include <stdatomic.h>

/* Alignment is checked when zslab or glibc provides malloc; the quirks of
 * other allocators (jemalloc gives 8-byte blocks 8-byte alignment,
 * mimalloc 2.0.9's aligned_alloc(256, 256) is not 256-aligned) are not this
 * test's business. */
static int strict_align;

static const char *malloc_provider(void)
{
    Dl_info info;
    void *m = dlsym(RTLD_DEFAULT, "malloc");
    const char *who = "?";
    if (m && dladdr(m, &info) && info.dli_fname) {
        who = strrchr(info.dli_fname, '/');
        who = who ? who + 1 : info.dli_fname;
    }
    return who;
}

static void api_basics(void)
{
    rng_t r;
    rng_seed(&r, 1);
    enum { N = 400 };
    static void *p[N];
    static size_t n[N];
    for (int round = 0; round < 20; round++) {
        for (int i = 0; i < N; i++) {
            size_t sz = (size_t)(rng_below(&r, 50) ? rng_below(&r, 3000)
                                                   : rng_range(&r, 3000, 8 << 20));
            size_t a = 16;
            void *q = NULL;
            switch (rng_below(&r, 8)) {
            case 0:
                q = calloc(1, sz);
                CHECK(q && check_zero(q, sz) == (size_t)-1, "calloc(1, %zu)", sz);
                break;
            case 1:
                q = reallocarray(NULL, sz, 1);
                break;
            case 2:
                a = (size_t)8 << rng_below(&r, 10);
                CHECK(posix_memalign(&q, a, sz) == 0, "posix_memalign(%zu, %zu)", a, sz);
                break;
            case 3:
                a = (size_t)16 << rng_below(&r, 9);
                q = aligned_alloc(a, (sz + a - 1) / a * a);
                sz = (sz + a - 1) / a * a;
                break;
            case 4:
                a = (size_t)16 << rng_below(&r, 9);
                q = memalign(a, sz);
                break;
            case 5:
                a = 4096;
                q = valloc(sz);
                break;
            default:
                q = malloc(sz);
            }
            CHECK(q != NULL, "allocation of %zu bytes failed", sz);
            if (strict_align)
                CHECK(is_aligned(q, a < 16 ? 16 : a), "%p not aligned to %zu", q, a);
            CHECK(malloc_usable_size(q) >= sz, "usable %zu < %zu", malloc_usable_size(q), sz);
            fill_pattern(q, sz, (uint64_t)i * 7 + (uint64_t)round);
            p[i] = q;
            n[i] = sz;
        }
        for (int i = 0; i < N; i++) {
            CHECK_PATTERN(p[i], n[i], (uint64_t)i * 7 + (uint64_t)round, "block %d", i);
            if (i % 3 == 0) {
                size_t m = n[i] * 2 + 1;
                void *q = i % 2 ? realloc(p[i], m) : reallocarray(p[i], m, 1);
                CHECK(q != NULL, "realloc(%zu -> %zu)", n[i], m);
                CHECK_PATTERN(q, n[i], (uint64_t)i * 7 + (uint64_t)round, "realloc'd block");
                p[i] = q;
            }
            free(p[i]);
        }
    }
    free(NULL);
    void *z = malloc(0);
    CHECK(z != NULL, "malloc(0)");
    free(z);
}

static int cmp_int(const void *a, const void *b)
{
    return *(const int *)a - *(const int *)b;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void free_node(void *p)
{
    free(p);
}

static void libc_allocations(void)
{
    for (int round = 0; round < 50; round++) {
        char *s = strdup("coexistence of allocators");
        CHECK(s && strcmp(s, "coexistence of allocators") == 0, "strdup");
        char *t = strndup(s, 11);
        CHECK(t && strcmp(t, "coexistence") == 0, "strndup");
        char *u = NULL;
        CHECK(asprintf(&u, "%s/%d/%0500d", t, round, round) > 500, "asprintf");
        s = realloc(s, 5000); /* a libc-allocated block grown by the program */
        CHECK(s && strcmp(s, "coexistence of allocators") == 0, "realloc of strdup");
        free(s);
        free(t);
        free(u);

        char *buf = NULL;
        size_t len = 0;
        FILE *ms = open_memstream(&buf, &len);
        CHECK(ms != NULL, "open_memstream");
        for (int i = 0; i < 2000; i++)
            fprintf(ms, "line %d of the memstream\n", i);
        CHECK(fclose(ms) == 0 && len > 40000, "memstream");
        FILE *in = fmemopen(buf, len, "r");
        CHECK(in != NULL, "fmemopen");
        char *line = NULL;
        size_t cap = 0;
        int lines = 0;
        while (getline(&line, &cap, in) > 0)
            lines++;
        CHECK(lines == 2000, "getline read %d lines", lines);
        rewind(in);
        CHECK(getdelim(&line, &cap, ' ', in) > 0, "getdelim");
        free(line);
        fclose(in);
        free(buf);

        char *rp = realpath("/proc/self/exe", NULL);
        CHECK(rp != NULL, "realpath");
        free(rp);
        char *cwd = getcwd(NULL, 0);
        CHECK(cwd != NULL, "getcwd");
        free(cwd);

        struct dirent **names;
        int k = scandir("/proc/self", &names, NULL, alphasort);
        CHECK(k > 5, "scandir");
        for (int i = 0; i < k; i++)
            free(names[i]);
        free(names);

        glob_t g;
        CHECK(glob("/proc/self/*", 0, NULL, &g) == 0 && g.gl_pathc > 5, "glob");
        globfree(&g);

        regex_t re;
        CHECK(regcomp(&re, "^(co|ex)+[a-z]* of [a-z]+$", REG_EXTENDED) == 0, "regcomp");
        CHECK(regexec(&re, "coexistence of allocators", 0, NULL, 0) == 0, "regexec");
        regfree(&re);

        char val[64];
        snprintf(val, sizeof val, "value-%d", round);
        CHECK(setenv("ZSLAB_COEXIST_TEST", val, 1) == 0, "setenv");
        CHECK(strcmp(getenv("ZSLAB_COEXIST_TEST"), val) == 0, "getenv");

        void *root = NULL;
        for (int i = 0; i < 200; i++) {
            char *key = malloc(16);
            snprintf(key, 16, "k%d", (i * 37) % 200);
            char **found = tsearch(key, &root, cmp_str);
            CHECK(found != NULL, "tsearch");
            if (*found != key)
                free(key);
        }
        tdestroy(root, free_node);

        FILE *f = fopen("/proc/self/status", "r");
        CHECK(f != NULL, "fopen");
        char tmp[256];
        CHECK(fgets(tmp, sizeof tmp, f) != NULL, "fgets");
        fclose(f);

        int arr[5000];
        for (int i = 0; i < 5000; i++)
            arr[i] = (i * 7919) % 5000;
        qsort(arr, 5000, sizeof arr[0], cmp_int);
        for (int i = 0; i < 5000; i++)
            CHECK(arr[i] == i, "qsort");
    }
    unsetenv("ZSLAB_COEXIST_TEST");
}

static void introspection(void)
{
    malloc_trim(0);
    struct mallinfo2 mi = mallinfo2();
    (void)mi;
    char *buf = NULL;
    size_t len = 0;
    FILE *ms = open_memstream(&buf, &len);
    CHECK(ms != NULL, "open_memstream");
    CHECK(malloc_info(0, ms) == 0, "malloc_info");
    fclose(ms);
    CHECK(len > 0 && strstr(buf, "<malloc"), "malloc_info wrote no XML");
    free(buf);
}

#define SLOTS 512
static _Atomic(void *) shared[SLOTS];

static void *thread_main(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(intptr_t)arg);
    for (int i = 0; i < 100000; i++) {
        size_t sz = (size_t)(rng_below(&r, 100) ? rng_range(&r, 8, 2000)
                                                : rng_range(&r, 2001, 200000));
        unsigned char *p = malloc(sz);
        CHECK(p != NULL, "malloc(%zu)", sz);
        memset(p, (int)(sz & 0xff), sz < 64 ? sz : 64);
        __builtin_memcpy(p, &sz, sizeof sz); /* the block's size in its first word */
        unsigned char *old = atomic_exchange(&shared[rng_below(&r, SLOTS)], (void *)p);
        if (old) {
            size_t osz = 0;
            __builtin_memcpy(&osz, old, sizeof osz);
            CHECK(osz >= 8 && osz <= 200000, "handed-over block corrupted (size word %zu)", osz);
            CHECK(malloc_usable_size(old) >= osz, "usable size of a handed-over block");
            free(old);
        }
    }
    return NULL;
}

static void report(void)
{
    printf("malloc_from=%s\n", malloc_provider());
    void *j = dlsym(RTLD_DEFAULT, "slab_stats_json");
    if (j) {
        size_t (*json)(char *, size_t);
        __builtin_memcpy(&json, &j, sizeof j);
        static char buf[1 << 16];
        json(buf, sizeof buf);
        const char *k = strstr(buf, "\"small_allocs\":");
        if (k)
            printf("zslab_small_allocs=%llu\n", strtoull(k + 15, NULL, 10));
        else
            printf("zslab_small_allocs=absent\n");
    } else {
        printf("zslab_small_allocs=not-loaded\n");
    }
}

int main(void)
{
    watchdog(110);
    const char *who = malloc_provider();
    strict_align = strstr(who, "libzslab") != NULL || strstr(who, "libc.so") != NULL;
    api_basics();
    libc_allocations();
    introspection();
    pthread_t t;
    CHECK(pthread_create(&t, NULL, thread_main, (void *)1) == 0, "pthread_create");
    thread_main((void *)2);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    for (int i = 0; i < SLOTS; i++)
        free(atomic_load(&shared[i]));
    report();
    ok("coexist_api");
    return 0;
}

/* dlopen_helper: the shared library that preload-tests/dlopen_lib.c builds
 * at run time (gcc -shared -fPIC) and dlopens / dlcloses over and over.
 *
 * Its constructor allocates a set of blocks of every kind (malloc, calloc,
 * realloc, posix_memalign, aligned_alloc, strdup, a large block, a block
 * allocated by a short-lived thread) and fills them; its destructor checks
 * and frees them.  A big __thread array makes glibc allocate this library's
 * TLS block with malloc in every thread that touches it (and free it when
 * the thread exits or the library is closed).  Exported functions hand
 * blocks to the program and take the program's blocks to free.
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NB 48

static struct {
    void *p;
    size_t n;
    unsigned char fill;
} blocks[NB];
static int ctor_ran, ctor_ok;

/* 64 KiB of TLS: too big for glibc's static TLS surplus, so every thread
 * gets it from malloc on first use. */
static __thread unsigned char tls_buf[64 << 10];

static void put(int i, void *p, size_t n)
{
    blocks[i].p = p;
    blocks[i].n = n;
    blocks[i].fill = (unsigned char)(0x30 + i);
    if (p)
        memset(p, blocks[i].fill, n);
}

static void *thread_alloc(void *arg)
{
    (void)arg;
    void *p = malloc(3000);
    if (p)
        memset(p, 0x77, 3000);
    tls_buf[1] = 1;
    return p;
}

__attribute__((constructor)) static void helper_init(void)
{
    ctor_ran = 1;
    int i = 0;
    for (; i < 20; i++)
        put(i, malloc((size_t)(i * 97 % 4000) + 1), (size_t)(i * 97 % 4000) + 1);
    put(i, calloc(100, 16), 1600), i++;
    void *r = malloc(10);
    put(i, realloc(r, 70000), 70000), i++;
    void *pm = NULL;
    if (posix_memalign(&pm, 4096, 5000) == 0)
        put(i, pm, 5000);
    i++;
    put(i, aligned_alloc(256, 512), 512), i++;
    char *s = strdup("allocated by the dlopen helper's constructor");
    put(i, s, s ? strlen(s) + 1 : 0), i++;
    put(i, malloc(3 << 20), 3 << 20), i++;
    pthread_t t;
    void *tp = NULL;
    if (pthread_create(&t, NULL, thread_alloc, NULL) == 0)
        pthread_join(t, &tp);
    blocks[i].p = tp;
    blocks[i].n = 3000;
    blocks[i].fill = 0x77;
    i++;
    ctor_ok = 1;
    for (int k = 0; k < i; k++)
        if (!blocks[k].p)
            ctor_ok = 0;
}

/* 0 when every constructor block is intact, else 1 + the bad index. */
int helper_check(void)
{
    if (!ctor_ran || !ctor_ok)
        return -1;
    for (int i = 0; i < NB; i++) {
        unsigned char *p = blocks[i].p;
        for (size_t k = 0; p && k < blocks[i].n; k++)
            if (p[k] != blocks[i].fill)
                return 1 + i;
    }
    return 0;
}

__attribute__((destructor)) static void helper_fini(void)
{
    if (helper_check() != 0) {
        static const char msg[] = "dlopen_helper: constructor blocks corrupted at dlclose\n";
        ssize_t w = write(2, msg, sizeof msg - 1);
        (void)w;
        abort();
    }
    for (int i = 0; i < NB; i++) {
        free(blocks[i].p);
        blocks[i].p = NULL;
    }
}

/* A block for the program to keep (and free after dlclose). */
void *helper_alloc(size_t n, int how)
{
    void *p = NULL;
    switch (how % 4) {
    case 0:
        p = malloc(n);
        break;
    case 1:
        p = calloc(1, n);
        break;
    case 2:
        if (posix_memalign(&p, 64, n) != 0)
            p = NULL;
        break;
    default:
        p = realloc(NULL, n);
        break;
    }
    return p;
}

/* Free a block the program allocated. */
void helper_free(void *p)
{
    free(p);
}

/* Grow a block the program allocated. */
void *helper_realloc(void *p, size_t n)
{
    return realloc(p, n);
}

size_t helper_usable(void *p)
{
    return malloc_usable_size(p);
}

/* Touch this library's TLS from the calling thread. */
int helper_tls(int v)
{
    memset(tls_buf, v, sizeof tls_buf);
    int sum = 0;
    for (size_t i = 0; i < sizeof tls_buf; i += 4096)
        sum += tls_buf[i];
    return sum;
}

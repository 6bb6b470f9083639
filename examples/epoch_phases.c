/*
 * epoch_phases.c: an instrumented program using zslab's epochs through
 * dlsym, so it runs unchanged (and correctly) without zslab.
 *
 *   gcc -O2 -o epoch_phases examples/epoch_phases.c -ldl
 *   ./epoch_phases                                            # plain glibc
 *   LD_PRELOAD=target/release/libzslab.so ./epoch_phases      # with epochs
 *
 * Each "request" allocates a burst of short-lived objects. Advancing the
 * epoch before each request puts its objects in slabs of their own, so when
 * the request's objects are freed their slabs empty together and go back to
 * the OS, even though long-lived objects were allocated in between.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef unsigned (*advance_fn)(void);
typedef int (*label_fn)(unsigned, const char *);
typedef size_t (*reclaim_fn)(void);

static long rss_kib(void)
{
    long pages = 0, resident = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%ld %ld", &pages, &resident) != 2)
            resident = 0;
        fclose(f);
    }
    return resident * 4;
}

int main(void)
{
    /* Present only under zslab; NULL otherwise. */
    advance_fn advance = (advance_fn)dlsym(RTLD_DEFAULT, "slab_epoch_advance");
    label_fn set_label = (label_fn)dlsym(RTLD_DEFAULT, "slab_epoch_set_label");
    reclaim_fn reclaim = (reclaim_fn)dlsym(RTLD_DEFAULT, "slab_reclaim");
    printf("zslab %s\n", advance ? "present: using epochs" : "absent: plain malloc");

    enum { REQUESTS = 50, PER_REQUEST = 20000, KEEP_EVERY = 50 };
    void **kept = calloc(REQUESTS * PER_REQUEST / KEEP_EVERY + 1, sizeof *kept);
    size_t nkept = 0;
    static void *scratch[PER_REQUEST];

    for (int r = 0; r < REQUESTS; r++) {
        if (advance) {
            unsigned e = advance();
            char label[32];
            snprintf(label, sizeof label, "request:%d", r);
            if (set_label)
                set_label(e, label);
        }
        for (int i = 0; i < PER_REQUEST; i++) {
            size_t n = 32 + (size_t)(i * 7919 % 480);
            scratch[i] = malloc(n);
            memset(scratch[i], r, n);
        }
        /* A few objects outlive the request (a cache, a log line...). */
        for (int i = 0; i < PER_REQUEST; i += KEEP_EVERY)
            kept[nkept++] = strdup("long-lived");
        for (int i = 0; i < PER_REQUEST; i++)
            free(scratch[i]);
    }
    if (reclaim)
        reclaim();
    printf("requests done: %zu long-lived objects kept, RSS %ld KiB\n", nkept, rss_kib());
    for (size_t i = 0; i < nkept; i++)
        free(kept[i]);
    free(kept);
    return 0;
}

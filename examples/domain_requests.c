/*
 * domain_requests.c: a multi-threaded request loop where each request runs
 * inside a zslab epoch domain, looked up with dlsym so the same binary runs
 * (with plain malloc) without zslab.
 *
 *   gcc -O2 -pthread -Iinclude -o domain_requests examples/domain_requests.c -ldl
 *   ./domain_requests                                            # plain glibc
 *   LD_PRELOAD=target/release/libzslab.so ./domain_requests      # with domains
 *   LD_PRELOAD=target/release/libzslab.so ./domain_requests --no-domains
 *
 * Four workers each handle requests. A request builds a few hundred KB of
 * short-lived objects (a parsed document: a list of nodes and a few larger
 * buffers), computes a response, and keeps three small objects in a global
 * response cache shared by every worker (which evicts the oldest entries,
 * so objects of old requests are freed by whichever worker evicts them).
 *
 * slab_domain_enter("request") gives the request an epoch of its own on
 * its thread: its objects share spans with each other only, not with the
 * cache entries of other requests or the workers' long-lived data, so when
 * the request ends they empty whole spans, which the next request reuses
 * from zslab's caches (slab_domain_exit(), the outermost exit, closes the
 * domain's epoch; pages go back to the OS when the load drops, not at
 * every request). At the end the program prints the statistics that show
 * it: domains opened and closed, the live bytes (about the cache's size),
 * the committed bytes and RSS, and how much went back with madvise.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "zslab.h"

enum {
    WORKERS = 4,
    REQUESTS = 250,        /* per worker */
    DOC_BYTES = 300 << 10, /* short-lived bytes per request */
    CACHE_CAP = 1024,      /* global cache entries */
    KEEP = 3               /* cache entries per request */
};

/* Present only under zslab; NULL otherwise. */
static __typeof__(slab_domain_enter) *domain_enter;
static __typeof__(slab_domain_exit) *domain_exit;
static __typeof__(slab_stats_global) *stats_global;

/* ---- the global response cache (a ring; the oldest entry is evicted) */

static pthread_mutex_t cache_lock = PTHREAD_MUTEX_INITIALIZER;
static char *cache[CACHE_CAP];
static size_t cache_next, cache_bytes;

static void cache_put(char *entry)
{
    pthread_mutex_lock(&cache_lock);
    size_t slot = cache_next++ % CACHE_CAP;
    if (cache[slot]) {
        cache_bytes -= strlen(cache[slot]) + 1;
        free(cache[slot]); /* often another worker's object */
    }
    cache[slot] = entry;
    cache_bytes += strlen(entry) + 1;
    pthread_mutex_unlock(&cache_lock);
}

/* ---- one request */

struct node {
    struct node *next;
    size_t len;
    unsigned char data[];
};

static uint64_t xorshift(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

/* Parse a made-up document into a list of nodes plus a few larger buffers,
 * answer from it (KEEP results for the cache, in `results`), free it all. */
static uint64_t handle_request(int worker, int request, uint64_t *rng, size_t *allocated,
                               char results[KEEP][256])
{
    struct node *head = NULL;
    size_t total = 0;
    uint64_t sum = 0;
    while (total < DOC_BYTES) {
        size_t len = 16 + xorshift(rng) % 1000;
        struct node *n = malloc(sizeof *n + len);
        if (!n) {
            perror("malloc");
            exit(1);
        }
        n->len = len;
        memset(n->data, (int)(len & 0xff), len);
        n->next = head;
        head = n;
        total += sizeof *n + len;
    }
    char *buffers[4];
    for (int i = 0; i < 4; i++) {
        size_t len = 8192 + xorshift(rng) % 24576; /* 8-32 KiB */
        buffers[i] = malloc(len);
        if (!buffers[i]) {
            perror("malloc");
            exit(1);
        }
        memset(buffers[i], i, len);
        total += len;
    }
    for (struct node *n = head; n; n = n->next)
        sum += n->data[n->len - 1] + n->len;
    for (int k = 0; k < KEEP; k++)
        snprintf(results[k], sizeof results[k], "worker %d request %d result %d: %016llx %.*s", worker,
                 request, k, (unsigned long long)sum, (int)(xorshift(rng) % 120),
                 "................................................................"
                 "................................................................");
    while (head) {
        struct node *n = head->next;
        free(head);
        head = n;
    }
    for (int i = 0; i < 4; i++)
        free(buffers[i]);
    *allocated += total;
    return sum;
}

struct worker {
    pthread_t thread;
    int id;
    size_t allocated;
    int domains_closed;
    uint64_t checksum;
};

static void *worker_main(void *arg)
{
    struct worker *w = arg;
    uint64_t rng = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1);
    for (int r = 0; r < REQUESTS; r++) {
        char results[KEEP][256];
        uint64_t domain = domain_enter ? domain_enter("request") : 0;
        w->checksum += handle_request(w->id, r, &rng, &w->allocated, results);
        if (domain && domain_exit() == 0)
            w->domains_closed++;
        /* What outlives the request is allocated after the domain is left,
         * in the global epoch, where the cache's entries pack together
         * instead of each pinning a page of its request. */
        for (int k = 0; k < KEEP; k++) {
            char *entry = strdup(results[k]);
            if (!entry) {
                perror("strdup");
                exit(1);
            }
            cache_put(entry);
        }
    }
    return NULL;
}

/* ---- reporting */

static long status_kib(const char *key)
{
    char line[256];
    long v = -1;
    FILE *f = fopen("/proc/self/status", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, key, strlen(key)) == 0)
            v = strtol(line + strlen(key), NULL, 10);
    if (f)
        fclose(f);
    return v;
}

static double mib(uint64_t b)
{
    return (double)b / 1048576.0;
}

int main(int argc, char **argv)
{
    int use_domains = !(argc > 1 && strcmp(argv[1], "--no-domains") == 0);
    if (use_domains) {
        domain_enter = (__typeof__(domain_enter))dlsym(RTLD_DEFAULT, "slab_domain_enter");
        domain_exit = (__typeof__(domain_exit))dlsym(RTLD_DEFAULT, "slab_domain_exit");
    }
    stats_global = (__typeof__(stats_global))dlsym(RTLD_DEFAULT, "slab_stats_global");
    printf("zslab %s\n", domain_enter && domain_exit ? "present: requests in epoch domains"
                        : stats_global                 ? "present: requests without domains (--no-domains)"
                                                       : "absent: plain malloc");
    fflush(stdout);

    struct zslab_global_stats before = {0};
    if (stats_global)
        stats_global(&before, sizeof before);

    struct worker w[WORKERS];
    for (int i = 0; i < WORKERS; i++) {
        memset(&w[i], 0, sizeof w[i]);
        w[i].id = i;
        if (pthread_create(&w[i].thread, NULL, worker_main, &w[i]) != 0) {
            fprintf(stderr, "pthread_create failed\n");
            return 1;
        }
    }
    size_t allocated = 0;
    int closed = 0;
    uint64_t checksum = 0;
    for (int i = 0; i < WORKERS; i++) {
        pthread_join(w[i].thread, NULL);
        allocated += w[i].allocated;
        closed += w[i].domains_closed;
        checksum += w[i].checksum;
    }

    printf("%d workers handled %d requests (%.1f MiB of short-lived objects, checksum %016llx); "
           "the cache keeps %d entries (%.1f KiB)\n",
           WORKERS, WORKERS * REQUESTS, mib(allocated), (unsigned long long)checksum, CACHE_CAP,
           (double)cache_bytes / 1024.0);
    if (stats_global) {
        struct zslab_global_stats g = {0};
        stats_global(&g, sizeof g);
        printf("zslab: %d request domains opened and closed; global epoch unchanged (era %llu -> %llu)\n",
               closed, (unsigned long long)before.current_era, (unsigned long long)g.current_era);
        printf("zslab: live %.2f MiB in %llu objects (the cache and the program's own data)\n",
               mib(g.live_bytes), (unsigned long long)g.live_objects);
        printf("zslab: committed %.2f MiB (spans in use %.2f, cached empty %.2f), RSS %.2f MiB, "
               "peak RSS %.2f MiB\n",
               mib(g.committed_bytes), mib(g.active_bytes), mib(g.cached_bytes), mib(g.rss_bytes),
               (double)status_kib("VmHWM:") / 1024.0);
        printf("zslab: returned to the OS: %.1f MiB (%llu madvise calls, %llu page purges, "
               "%llu phase ends)\n",
               mib(g.madvise_bytes), (unsigned long long)g.madvise_calls, (unsigned long long)g.purges,
               (unsigned long long)g.drains);
    } else {
        printf("RSS %.2f MiB, peak RSS %.2f MiB\n", (double)status_kib("VmRSS:") / 1024.0,
               (double)status_kib("VmHWM:") / 1024.0);
    }
    for (size_t i = 0; i < CACHE_CAP; i++)
        free(cache[i]);
    return 0;
}

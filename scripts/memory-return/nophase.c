/* nophase: a workload without phase structure, for comparing runs with and
 * without automatic epochs (scripts/test-memory-return.sh).
 *
 * A live set of SLOTS small objects (16 B - 1 KiB, plus one in 64 of
 * 1-16 KiB) is built, then STEPS times a random slot is freed and refilled
 * with an object of a new random size: lifetimes are random (geometric),
 * there is no moment when a group of objects dies together.  The workload
 * is deterministic (seeded).  At the end it prints
 *     peak_rss=<bytes>     VmHWM
 *     steady_rss=<bytes>   median RSS over the second half of the steps
 *     final_rss=<bytes>
 *     checksum=<hex>       over every live object's contents
 * and exits 0.  Usage: nophase [slots] [steps]
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static uint64_t rng_s = 0x9E3779B97F4A7C15ull;
static uint64_t rnd(void)
{
    uint64_t x = rng_s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    rng_s = x;
    return x * 0x2545F4914F6CDD1Dull;
}

static uint64_t rss(void)
{
    char buf[256];
    int fd = open("/proc/self/statm", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    unsigned long long a = 0, b = 0;
    if (sscanf(buf, "%llu %llu", &a, &b) != 2)
        return 0;
    return b * (uint64_t)sysconf(_SC_PAGESIZE);
}

static uint64_t peak_rss(void)
{
    static char buf[8192];
    int fd = open("/proc/self/status", O_RDONLY);
    ssize_t n = fd >= 0 ? read(fd, buf, sizeof buf - 1) : -1;
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = 0;
    const char *p = strstr(buf, "VmHWM:");
    return p ? strtoull(p + 6, NULL, 10) * 1024 : 0;
}

static size_t rand_size(void)
{
    if (rnd() % 64 == 0)
        return 1024 + (size_t)(rnd() % (15 * 1024));
    return 16 + (size_t)(rnd() % 1009);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    size_t slots = argc > 1 ? strtoull(argv[1], NULL, 10) : 200000;
    size_t steps = argc > 2 ? strtoull(argv[2], NULL, 10) : 4000000;
    unsigned char **p = calloc(slots, sizeof *p);
    uint32_t *sz = calloc(slots, sizeof *sz);
    enum { NSAMP = 64 };
    uint64_t samples[NSAMP];
    int ns = 0;
    if (!p || !sz)
        return 2;
    for (size_t i = 0; i < slots; i++) {
        sz[i] = (uint32_t)rand_size();
        p[i] = malloc(sz[i]);
        if (!p[i])
            return 2;
        memset(p[i], (int)(i & 0xff), sz[i]);
    }
    size_t every = steps / 2 / NSAMP + 1;
    for (size_t s = 0; s < steps; s++) {
        size_t i = (size_t)(rnd() % slots);
        if (p[i][0] != (unsigned char)(i & 0xff) || p[i][sz[i] - 1] != (unsigned char)(i & 0xff)) {
            fprintf(stderr, "nophase: object %zu corrupted\n", i);
            return 1;
        }
        free(p[i]);
        sz[i] = (uint32_t)rand_size();
        p[i] = malloc(sz[i]);
        if (!p[i])
            return 2;
        memset(p[i], (int)(i & 0xff), sz[i]);
        if (s >= steps / 2 && (s - steps / 2) % every == 0 && ns < NSAMP)
            samples[ns++] = rss();
    }
    qsort(samples, (size_t)ns, sizeof samples[0], cmp_u64);
    uint64_t sum = 0;
    for (size_t i = 0; i < slots; i++)
        for (uint32_t k = 0; k < sz[i]; k += 61)
            sum = sum * 31 + p[i][k];
    printf("peak_rss=%" PRIu64 "\n", peak_rss());
    printf("steady_rss=%" PRIu64 "\n", ns ? samples[ns / 2] : 0);
    printf("final_rss=%" PRIu64 "\n", rss());
    printf("checksum=%016" PRIx64 "\n", sum);
    for (size_t i = 0; i < slots; i++)
        free(p[i]);
    free(p);
    free(sz);
    return 0;
}

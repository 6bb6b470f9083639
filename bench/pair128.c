/* pair128 — a fixed number of 128-byte malloc+free pairs, for counting
 * instructions per pair with valgrind (scripts/instr-per-pair.sh).
 *
 * usage: pair128 MODE N
 *   MODE lifo: malloc then free at once, N times (the same block cycles);
 *   MODE ring: a ring of 1024 live blocks; N times free a pseudo-random
 *              one and malloc its replacement.
 * N = 0 runs the set-up only (the baseline subtracted by the script).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    unsigned long n = strtoul(argv[2], NULL, 10);
    int ring = strcmp(argv[1], "ring") == 0;
    static void *slot[1024];
    for (int i = 0; i < 1024; i++)
        slot[i] = malloc(128);
    unsigned long x = 88172645463325252UL;
    for (unsigned long k = 0; k < n; k++) {
        if (ring) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            unsigned i = (unsigned)(x & 1023);
            free(slot[i]);
            slot[i] = malloc(128);
        } else {
            void *p = malloc(128);
            __asm__ volatile("" : : "r"(p) : "memory");
            free(p);
        }
    }
    for (int i = 0; i < 1024; i++)
        free(slot[i]);
    return 0;
}

// expect: exit 0
/* fd_numbers: the allocator never takes a file descriptor behind the
 * program's back.
 *
 * POSIX gives a new descriptor the lowest free number, and programs rely
 * on it (GLib's unix-fd test checks that dup() returns the numbers it
 * expects).  glibc's malloc opens no file once running, so neither may
 * zslab, in any of its threads: a file it opened for a moment (to read
 * /proc, say) takes the number the program's next dup() should get.
 *
 * One thread starts and joins short-lived threads that allocate (thread
 * exits are when an allocator might look at the process: is the program
 * down to one thread?), while main dup()s and closes stdin in a loop and
 * checks that the number is the same every time.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>

static atomic_int stop;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void *short_lived(void *arg)
{
    void *v[64];
    for (int i = 0; i < 64; i++) {
        v[i] = malloc(16 + 48 * (size_t)i);
        CHECK(v[i] != NULL, "malloc failed");
        memset(v[i], i, 16);
    }
    for (int i = 0; i < 64; i++)
        free(v[i]);
    return arg;
}

static void *spawner(void *arg)
{
    while (!atomic_load(&stop)) {
        pthread_t t;
        CHECK(pthread_create(&t, NULL, short_lived, NULL) == 0, "pthread_create failed");
        CHECK(pthread_join(t, NULL) == 0, "pthread_join failed");
        usleep(2000);
    }
    return arg;
}

int main(void)
{
    watchdog(60);
    int expect = dup(0);
    CHECK(expect >= 0, "dup(0) failed: %s", strerror(errno));
    close(expect);

    pthread_t sp;
    CHECK(pthread_create(&sp, NULL, spawner, NULL) == 0, "pthread_create failed");
    long rounds = 0;
    double t0 = now();
    while (now() - t0 < 2.0) {
        for (int i = 0; i < 1000; i++, rounds++) {
            int fd = dup(0);
            CHECK(fd == expect, "round %ld: dup(0) returned %d, not %d: a descriptor "
                  "below it was taken by someone else", rounds, fd, expect);
            close(fd);
        }
    }
    atomic_store(&stop, 1);
    CHECK(pthread_join(sp, NULL) == 0, "pthread_join failed");
    printf("%ld dup() calls, all returned %d\n", rounds, expect);
    ok("fd_numbers");
    return 0;
}

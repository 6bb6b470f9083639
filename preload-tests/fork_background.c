// expect: exit 0
/* fork_background: one thread forks in a loop while zslab starts its
 * background thread. zslab starts it right after the program's first
 * pthread_create (here: the forker's), from its pthread_create wrapper.
 * pthread_create allocates the new thread's TLS vector through malloc;
 * here that allocation needs a new slab (the 320-byte class's slab is left
 * exactly full), which takes an allocator lock, while fork's prepare
 * handler holds every allocator lock. Starting the thread must not hold a
 * lock of its own across pthread_create, or the two threads deadlock (a
 * build that holds one fails every round). A watchdog turns a hang into a
 * failure. Then the main thread allocates and frees while the forks go
 * on. (Under glibc the program simply runs.)
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

static atomic_int stop, started;

static void *forker(void *a)
{
    (void)a;
    atomic_store(&started, 1);
    while (!atomic_load(&stop)) {
        pid_t p = fork();
        if (p == 0)
            _exit(0);
        /* A breath between forks. Each fork holds every allocator lock,
         * and the main thread's slow paths wait for them: on a loaded
         * machine a forker that re-forks at once starved them for up to
         * 30 s. The pause is about as long as a fork (100-150 us here), so
         * a fork is still in progress half the time or more (the window
         * this test is about). */
        usleep(50);
    }
    return NULL;
}

static void on_alarm(int sig)
{
    (void)sig;
    static const char m[] = "FAIL: fork_background: watchdog expired (deadlock?)\n";
    ssize_t w UNUSED = write(2, m, sizeof m - 1);
    _exit(3);
}

int main(void)
{
    signal(SIGALRM, on_alarm);
    alarm(30);
    for (int round = 0; round < 5; round++) {
        pid_t child = fork();
        CHECK(child >= 0, "fork");
        if (child == 0) {
            /* A fresh process per round: the decay thread starts once per process. */
            pthread_t f;
            signal(SIGCHLD, SIG_IGN); /* the forker's children reap themselves */
            signal(SIGALRM, SIG_DFL); /* a deadlocked round dies on its own */
            alarm(25);
            atomic_store(&stop, 0);
            atomic_store(&started, 0);
            static void *v[20000], *w[20000];
            /* Fill the 320-byte class's slab (204 objects, one taken by the
             * forker's TLS vector) so the next such block, the background
             * thread's TLS vector, needs a refill. */
            for (int i = 0; i < 203; i++)
                v[i] = malloc(300);
            CHECK(pthread_create(&f, NULL, forker, NULL) == 0, "pthread_create");
            while (!atomic_load(&started))
                ;
            for (int i = 0; i < 20000; i++)
                w[i] = malloc(i & 1 ? 48 : 96);
            for (int i = 0; i < 20000; i++)
                free(w[i]);
            for (int r = 0; r < 20; r++) {
                for (int i = 0; i < 5000; i++)
                    w[i] = malloc(16);
                for (int i = 0; i < 5000; i++)
                    free(w[i]);
            }
            atomic_store(&stop, 1);
            pthread_join(f, NULL);
            for (int i = 0; i < 203; i++)
                free(v[i]);
            _exit(0);
        }
        int st;
        pid_t r;
        do
            r = waitpid(child, &st, 0);
        while (r < 0 && errno == EINTR);
        CHECK(r == child && WIFEXITED(st) && WEXITSTATUS(st) == 0, "round %d: child status %d", round, st);
    }
    printf("OK fork_background\n");
    return 0;
}

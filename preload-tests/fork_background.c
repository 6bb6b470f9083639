// expect: exit 0
/* fork_background: one thread forks in a loop while the main thread makes
 * zslab start its background decay thread (by filling the hot caches past
 * their threshold in a multi-threaded process). pthread_create allocates the
 * new thread's TLS vector through malloc; here that allocation needs a new
 * slab (the 320-byte class's slab is left exactly full), which takes an
 * allocator lock, while fork's prepare handler holds every allocator lock.
 * Starting the thread must not hold a lock of its own across
 * pthread_create, or the two threads deadlock. A watchdog turns a hang into
 * a failure. (Under glibc the program simply runs.)
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
            CHECK(pthread_create(&f, NULL, forker, NULL) == 0, "pthread_create");
            while (!atomic_load(&started))
                ;
            static void *v[20000], *w[20000];
            /* Fill the 320-byte class's slab (204 objects, one taken by the
             * forker's TLS vector) so the next such block needs a refill. */
            for (int i = 0; i < 203; i++)
                v[i] = malloc(300);
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

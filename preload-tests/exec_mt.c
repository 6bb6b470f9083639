// expect: exit 0
/* exec_mt: exec from a multi-threaded process while its other threads are
 * allocating (a thread may be anywhere inside malloc or free, holding any
 * allocator lock, when exec wipes it out).
 *
 *  - A chain of 30 generations: each generation starts 3 threads that
 *    allocate, exchange and free blocks (1 B..512 KiB) nonstop, lets them
 *    run 2-15 ms, then execs itself as the next generation: from the main
 *    thread, or (every third generation) from one of the allocating threads.
 *    Every few generations an exec of a missing file fails first, and the
 *    generation must carry on normally.  The last one checks that
 *    allocation works, from several threads, and exits 0.
 *  - 20 children that start allocating threads and exec /bin/true.
 * The test forks the chain and the children and checks their exit status.
 */
#include "common.h"

#include <pthread.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#define SLOTS 128
#define GENERATIONS 30

static _Atomic(void *) slots[SLOTS];
static char self[4096];
static int generation;
static atomic_int exec_from_thread = -1; /* the thread that must exec, or -1 */

static void do_exec_next(void)
{
    char gen[16];
    snprintf(gen, sizeof gen, "%d", generation + 1);
    char *const argv[] = {self, "--chain", gen, NULL};
    execv(self, argv);
    FAIL("execv(%s): %s", self, strerror(errno));
}

static void *allocator(void *arg)
{
    int id = (int)(intptr_t)arg;
    rng_t r;
    rng_seed(&r, (uint64_t)(generation * 10 + id));
    for (unsigned long i = 0;; i++) {
        size_t n = (size_t)(rng_below(&r, 30) ? rng_range(&r, 1, 3000)
                                               : rng_range(&r, 3001, 512 << 10));
        unsigned char *p = rng_below(&r, 5) ? malloc(n) : calloc(1, n);
        CHECK(p != NULL, "malloc(%zu)", n);
        p[0] = 1;
        p[n - 1] = 2;
        void *old = atomic_exchange(&slots[rng_below(&r, SLOTS)], (void *)p);
        if (old && rng_below(&r, 4) == 0)
            old = realloc(old, (size_t)rng_range(&r, 1, 5000));
        free(old);
        if ((i & 255) == 0 && atomic_load(&exec_from_thread) == id)
            do_exec_next();
    }
    return NULL;
}

static void start_threads(pthread_t *th, int n)
{
    for (int i = 0; i < n; i++)
        CHECK(pthread_create(&th[i], NULL, allocator, (void *)(intptr_t)i) == 0,
              "pthread_create");
}

static void nap_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};
    nanosleep(&ts, NULL);
}

static void *free_arg(void *p)
{
    free(p);
    return malloc(20);
}

static int chain(int gen)
{
    generation = gen;
    atomic_store(&exec_from_thread, -1);
    if (gen >= GENERATIONS) {
        /* the last generation: everything must still work */
        void *p[1000];
        for (int i = 0; i < 1000; i++) {
            p[i] = malloc((size_t)i * 37 + 1);
            CHECK(p[i] != NULL, "malloc in the last generation");
            memset(p[i], 0x11, (size_t)i * 37 + 1);
        }
        for (int i = 0; i < 1000; i++)
            free(p[i]);
        pthread_t th[2];
        watchdog(30);
        for (int i = 0; i < 2; i++)
            CHECK(pthread_create(&th[i], NULL, free_arg, malloc(10)) == 0,
                  "pthread_create in the last generation");
        for (int i = 0; i < 2; i++) {
            void *ret = NULL;
            CHECK(pthread_join(th[i], &ret) == 0 && ret != NULL, "pthread_join");
            free(ret);
        }
        printf("chain reached generation %d\n", gen);
        return 0;
    }
    watchdog(20);
    rng_t r;
    rng_seed(&r, (uint64_t)gen);
    pthread_t th[3];
    start_threads(th, 3);
    nap_ms((long)rng_range(&r, 2, 15));
    if (gen % 4 == 1) {
        char *const argv[] = {"/nonexistent/zslab-no-such-program", NULL};
        execv(argv[0], argv);
        CHECK(errno == ENOENT, "failed execv: errno %d", errno);
        nap_ms(3); /* carry on */
    }
    if (gen % 3 == 2) {
        atomic_store(&exec_from_thread, (int)rng_below(&r, 3));
        for (;;)
            nap_ms(100); /* the chosen thread execs */
    }
    do_exec_next();
    return 1;
}

static void wait_ok(pid_t pid, const char *what)
{
    int st;
    CHECK(waitpid(pid, &st, 0) == pid, "waitpid");
    if (WIFSIGNALED(st))
        FAIL("%s: killed by signal %d (%s)", what, WTERMSIG(st), strsignal(WTERMSIG(st)));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s: exit status %d", what, WEXITSTATUS(st));
}

int main(int argc, char **argv)
{
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0, "readlink");
    self[n] = 0;
    if (argc > 2 && strcmp(argv[1], "--chain") == 0)
        return chain(atoi(argv[2]));
    watchdog(110);

    fflush(stdout);
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        char *const args[] = {self, "--chain", "0", NULL};
        execv(self, args);
        _exit(127);
    }
    wait_ok(pid, "exec chain");

    for (int i = 0; i < 20; i++) {
        fflush(stdout);
        pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            generation = 100 + i;
            pthread_t th[3];
            start_threads(th, 3);
            nap_ms(1 + i % 7);
            char *const args[] = {"true", NULL};
            execv("/bin/true", args);
            _exit(127);
        }
        wait_ok(pid, "exec of /bin/true with allocating threads");
    }
    printf("exec chain of %d generations, 20 execs of /bin/true\n", GENERATIONS);
    ok("exec_mt");
    return 0;
}

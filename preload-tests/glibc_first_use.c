// expect: exit 0
/* glibc_first_use: glibc's malloc used for the first time by several exiting
 * threads at once.
 *
 * A thread whose zslab heap has been handed back (zslab's pthread key
 * destructor ran) gets glibc's malloc for what its later destructors
 * allocate.  When zslab serves everything else, that can be the first call
 * into glibc's malloc in the whole process.  glibc's lazy initialisation
 * (ptmalloc_init) is not thread-safe: it gives main_arena, whose
 * attached_threads count starts at 1, to the thread that runs it.  Two
 * threads running it at once both take main_arena with the count at 1; the
 * first to exit takes it to 0 and the second aborts in
 * __malloc_arena_thread_freeres ("a->attached_threads > 0").
 *
 * Each round forks a child whose threads all reach their key destructor,
 * wait for each other, then malloc at the same moment.  Without zslab's fix
 * (glibc's malloc initialised during zslab's own initialisation) the child
 * inherits a glibc malloc nobody has used yet, and 6-71 of 200 children
 * aborted, in each of 7 runs on an idle 2-core machine; the race is a few
 * instructions wide, so a loaded machine may need more rounds.  Every child
 * must exit 0.  Rounds go on for a few seconds, or until a child fails.
 */
#include "common.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/wait.h>
#include <time.h>

#define THREADS 4
#define MAX_ROUNDS 2000
#define MAX_SECONDS 4.0 /* the race is rarer on a loaded machine: keep trying */

static pthread_key_t key;
static atomic_int arrived;

static void late_dtor(void *arg)
{
    (void)arg;
    atomic_fetch_add(&arrived, 1);
    while (atomic_load(&arrived) < THREADS)
        sched_yield();
    /* After zslab's own destructor: glibc serves these. */
    void *p = malloc(48);
    CHECK(p != NULL, "malloc in a key destructor");
    memset(p, 0x5a, 48);
    free(p);
}

static void *body(void *arg)
{
    void *p = malloc(64);
    CHECK(p != NULL, "malloc");
    free(p);
    CHECK(pthread_setspecific(key, arg) == 0, "pthread_setspecific");
    return NULL;
}

static void child(void)
{
    pthread_t t[THREADS];
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_create(&t[i], NULL, body, (void *)1) == 0, "pthread_create");
    for (int i = 0; i < THREADS; i++)
        CHECK(pthread_join(t[i], NULL) == 0, "pthread_join");
    _exit(0);
}

int main(void)
{
    /* What any program does first (under plain glibc this is what
     * initialises glibc's malloc, in the main thread). */
    free(opaque_ptr(malloc(opaque_size(16))));
    CHECK(pthread_key_create(&key, late_dtor) == 0, "pthread_key_create");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int bad = 0, r;
    for (r = 0; r < MAX_ROUNDS && bad == 0; r++) {
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if ((double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec) > MAX_SECONDS)
            break;
        fflush(stdout);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
            child();
        int st;
        CHECK(waitpid(pid, &st, 0) == pid, "waitpid: %s", strerror(errno));
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            bad++;
            fprintf(stderr, "round %d: child %s %d\n", r,
                    WIFSIGNALED(st) ? "killed by signal" : "exited with",
                    WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st));
        }
    }
    CHECK(bad == 0, "a child failed in round %d", r - 1);
    printf("%d rounds\n", r);
    ok("glibc_first_use");
    return 0;
}

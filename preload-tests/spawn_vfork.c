// expect: exit 0
/* spawn_vfork: vfork and posix_spawn children of a multi-threaded parent.
 *
 * Two parent threads allocate, hand over and free blocks the whole time
 * (so a child may be created while one of them is inside malloc).  The main
 * thread, 60 rounds of:
 *  - vfork + execv of this program in child mode (the child shares the
 *    parent's memory until exec: it must not and does not allocate before
 *    exec; argv is built beforehand), vfork + execv("/bin/true"), vfork +
 *    a failing execv + _exit(42);
 *  - posix_spawn of this program with file actions (an open, a dup2, a
 *    close) and attributes (signal mask, process group), posix_spawnp of
 *    `true`;
 *  - every 10th round: system("exit 3") and popen("echo zslab") (glibc
 *    builds both on posix_spawn);
 * and checks each exit status.  A child in child mode allocates small and
 * large blocks, from two threads, checks them and exits 0; it also checks
 * that file descriptor 5 (from the file actions) is /dev/null when spawned.
 */
#include "common.h"

#include <fcntl.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/stat.h>
#include <sys/wait.h>

extern char **environ;

#define SLOTS 256
static _Atomic(void *) slots[SLOTS];
static atomic_int stop;

static void *churner(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(intptr_t)arg);
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        size_t n = (size_t)(rng_below(&r, 20) ? rng_range(&r, 1, 2000)
                                               : rng_range(&r, 2001, 300000));
        unsigned char *p = malloc(n);
        CHECK(p != NULL, "malloc(%zu)", n);
        p[0] = (unsigned char)n;
        p[n - 1] = (unsigned char)(n >> 3);
        void *old = atomic_exchange(&slots[rng_below(&r, SLOTS)], (void *)p);
        free(old);
    }
    return NULL;
}

static void *child_thread(void *arg)
{
    rng_t r;
    rng_seed(&r, (uint64_t)(intptr_t)arg);
    void *keep[200];
    size_t kn[200];
    for (int i = 0; i < 200; i++) {
        kn[i] = (size_t)(i % 20 ? rng_range(&r, 1, 4000) : rng_range(&r, 4001, 1 << 20));
        keep[i] = malloc(kn[i]);
        CHECK(keep[i] != NULL, "child malloc(%zu)", kn[i]);
        fill_pattern(keep[i], kn[i], (uint64_t)i);
    }
    for (int i = 0; i < 200; i++) {
        CHECK_PATTERN(keep[i], kn[i], (uint64_t)i, "child block %d", i);
        free(keep[i]);
    }
    return NULL;
}

static int child(const char *how)
{
    if (strcmp(how, "spawn") == 0) {
        struct stat a, b;
        CHECK(fstat(5, &a) == 0 && stat("/dev/null", &b) == 0, "fd 5 missing in the child");
        CHECK(a.st_rdev == b.st_rdev, "fd 5 is not /dev/null");
        CHECK(fcntl(6, F_GETFD) == -1, "fd 6 should have been closed");
    }
    pthread_t t;
    CHECK(pthread_create(&t, NULL, child_thread, (void *)1) == 0, "pthread_create");
    child_thread((void *)2);
    CHECK(pthread_join(t, NULL) == 0, "pthread_join");
    return 0;
}

static void expect_status(pid_t pid, int code, const char *what)
{
    int st;
    pid_t w;
    while ((w = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    CHECK(w == pid, "waitpid(%s): %s", what, strerror(errno));
    if (WIFSIGNALED(st))
        FAIL("%s: child killed by signal %d (%s)", what, WTERMSIG(st), strsignal(WTERMSIG(st)));
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == code, "%s: exit status %d, expected %d", what,
          WEXITSTATUS(st), code);
}

int main(int argc, char **argv)
{
    if (argc > 2 && strcmp(argv[1], "--child") == 0)
        return child(argv[2]);
    watchdog(110);

    char self[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    CHECK(n > 0, "readlink");
    self[n] = 0;
    char *const vfork_argv[] = {self, "--child", "vfork", NULL};
    char *const spawn_argv[] = {self, "--child", "spawn", NULL};
    char *const true_argv[] = {"true", NULL};
    char *const missing_argv[] = {"/nonexistent/zslab-no-such-program", NULL};

    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        CHECK(pthread_create(&th[i], NULL, churner, (void *)(intptr_t)(i + 1)) == 0,
              "pthread_create");

    /* fd 6 is open in the parent and must be closed in spawned children */
    int fd6 = open("/dev/null", O_RDONLY);
    CHECK(fd6 >= 0 && dup2(fd6, 6) == 6, "dup2");

    for (int round = 0; round < 60; round++) {
        pid_t pid = vfork();
        if (pid == 0) {
            execv(self, vfork_argv);
            _exit(127);
        }
        CHECK(pid > 0, "vfork: %s", strerror(errno));
        expect_status(pid, 0, "vfork + exec of this program");

        pid = vfork();
        if (pid == 0) {
            execv("/bin/true", true_argv);
            _exit(127);
        }
        CHECK(pid > 0, "vfork");
        expect_status(pid, 0, "vfork + exec /bin/true");

        pid = vfork();
        if (pid == 0) {
            execv(missing_argv[0], missing_argv);
            _exit(42);
        }
        CHECK(pid > 0, "vfork");
        expect_status(pid, 42, "vfork + failing exec");

        posix_spawn_file_actions_t fa;
        posix_spawnattr_t at;
        CHECK(posix_spawn_file_actions_init(&fa) == 0, "file_actions_init");
        CHECK(posix_spawn_file_actions_addopen(&fa, 7, "/dev/null", O_RDWR, 0) == 0, "addopen");
        CHECK(posix_spawn_file_actions_adddup2(&fa, 7, 5) == 0, "adddup2");
        CHECK(posix_spawn_file_actions_addclose(&fa, 7) == 0, "addclose");
        CHECK(posix_spawn_file_actions_addclose(&fa, 6) == 0, "addclose");
        CHECK(posix_spawnattr_init(&at) == 0, "spawnattr_init");
        sigset_t none;
        sigemptyset(&none);
        posix_spawnattr_setsigmask(&at, &none);
        posix_spawnattr_setpgroup(&at, 0);
        posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETPGROUP);
        int e = posix_spawn(&pid, self, &fa, &at, spawn_argv, environ);
        CHECK(e == 0, "posix_spawn: %s", strerror(e));
        expect_status(pid, 0, "posix_spawn of this program");
        posix_spawn_file_actions_destroy(&fa);
        posix_spawnattr_destroy(&at);

        e = posix_spawnp(&pid, "true", NULL, NULL, true_argv, environ);
        CHECK(e == 0, "posix_spawnp(true): %s", strerror(e));
        expect_status(pid, 0, "posix_spawnp true");

        if (round % 10 == 0) {
            int st = system("exit 3");
            CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3, "system(\"exit 3\") = 0x%x", st);
            FILE *f = popen("echo zslab", "r");
            CHECK(f != NULL, "popen: %s", strerror(errno));
            char line[64] = "";
            CHECK(fgets(line, sizeof line, f) != NULL, "popen read");
            CHECK(strcmp(line, "zslab\n") == 0, "popen read '%s'", line);
            CHECK(pclose(f) == 0, "pclose");
        }
    }
    atomic_store(&stop, 1);
    for (int i = 0; i < 2; i++)
        CHECK(pthread_join(th[i], NULL) == 0, "pthread_join");
    for (int i = 0; i < SLOTS; i++)
        free(atomic_load(&slots[i]));
    printf("60 rounds of vfork/posix_spawn/system/popen\n");
    ok("spawn_vfork");
    return 0;
}

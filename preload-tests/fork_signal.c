// expect: exit 0
/* fork_signal: fork() from a signal handler that interrupted malloc/free in
 * a single-threaded process (port of glibc's tst-mallocfork2).
 *
 * glibc makes fork async-signal-safe with respect to malloc when the process
 * is single-threaded: it skips the malloc locks, so a SIGUSR1 handler that
 * forks while the main program is inside malloc/free must not deadlock.  A
 * helper subprocess bombards us with SIGUSR1; the handler stops it, forks a
 * trivial child (which _exits(0)) and waits for it.  The main program keeps
 * replacing random objects of up to 70000 bytes.  The test stops after
 * SIGNALS handled signals.  A deadlock trips the watchdog.
 */
#include "common.h"

#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>

enum { malloc_objects = 1009, malloc_maximum_size = 70000, signal_count = 300 };

static pid_t sender_pid;
static volatile sig_atomic_t sigusr1_received;
static volatile sig_atomic_t handler_forks;

static void write_msg(const char *m)
{
    ssize_t w UNUSED = write(2, m, strlen(m));
}

static void sigusr1_handler(int signo)
{
    (void)signo;
    if (sigusr1_received)
        return;
    if (sender_pid > 0 && kill(sender_pid, SIGSTOP) != 0) {
        write_msg("FAIL: kill (SIGSTOP)\n");
        _exit(1);
    }
    sigusr1_received = 1;

    pid_t pid = fork();
    if (pid == -1) {
        write_msg("FAIL: fork in signal handler\n");
        _exit(1);
    }
    if (pid == 0)
        _exit(0);
    int status;
    int ret;
    do
        ret = waitpid(pid, &status, 0);
    while (ret < 0 && errno == EINTR);
    if (ret < 0) {
        write_msg("FAIL: waitpid in signal handler\n");
        _exit(1);
    }
    if (status != 0) {
        write_msg("FAIL: unexpected exit status from the child forked in the handler\n");
        _exit(1);
    }
    handler_forks++;
}

static void watchdog_handler(int sig)
{
    (void)sig;
    write_msg("FAIL: watchdog expired: fork from a signal handler deadlocked?\n");
    if (sender_pid > 0)
        kill(sender_pid, SIGKILL);
    _exit(3);
}

static void __attribute__((noreturn)) signal_sender(pid_t target)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != target)
        _exit(0);
    for (;;) {
        if (kill(target, SIGUSR1) != 0)
            _exit(0);
        sched_yield();
    }
}

int main(void)
{
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = sigusr1_handler;
    sigemptyset(&action.sa_mask);
    CHECK(sigaction(SIGUSR1, &action, NULL) == 0, "sigaction: %s", strerror(errno));
    action.sa_handler = watchdog_handler;
    CHECK(sigaction(SIGALRM, &action, NULL) == 0, "sigaction: %s", strerror(errno));
    alarm(60);

    fflush(stdout);
    pid_t self = getpid();
    sender_pid = fork();
    CHECK(sender_pid >= 0, "fork: %s", strerror(errno));
    if (sender_pid == 0)
        signal_sender(self);

    static void *objects[malloc_objects];
    unsigned signals = 0;
    unsigned seed = 1;
    unsigned long iterations = 0;
    while (signals < signal_count) {
        int slot = rand_r(&seed) % malloc_objects;
        size_t size = (size_t)(rand_r(&seed) % malloc_maximum_size);
        if (kill(sender_pid, SIGCONT) != 0) {
            signal(SIGUSR1, SIG_IGN);
            kill(sender_pid, SIGKILL);
            FAIL("kill (SIGCONT): %s", strerror(errno));
        }
        sigusr1_received = 0;
        free(objects[slot]);
        objects[slot] = malloc(size);
        if (sigusr1_received)
            ++signals;
        if (objects[slot] == NULL) {
            signal(SIGUSR1, SIG_IGN);
            kill(sender_pid, SIGKILL);
            FAIL("malloc(%zu): %s", size, strerror(errno));
        }
        memset(objects[slot], (int)(size & 0xff), size < 256 ? size : 256);
        iterations++;
    }

    signal(SIGUSR1, SIG_IGN);
    kill(sender_pid, SIGKILL);
    int status;
    while (waitpid(sender_pid, &status, 0) < 0 && errno == EINTR)
        ;
    for (int slot = 0; slot < malloc_objects; ++slot)
        free(objects[slot]);
    alarm(0);
    printf("%u signals during malloc/free, %d forks from the handler, %lu iterations\n",
           signals, (int)handler_forks, iterations);
    ok("fork_signal");
    return 0;
}

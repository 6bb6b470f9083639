/* runner — run one benchmark command and measure it from outside.
 *
 * usage: runner [-p PRELOAD_SO] [-e VAR=VALUE]... [-i STDIN] [-o STDOUT] [-E STDERR]
 *               [-t TIMEOUT_S] -- PROGRAM [ARGS...]
 *
 * Forks, sets LD_PRELOAD (only in the child, so the runner itself always runs
 * on glibc malloc; without -p LD_PRELOAD is removed), applies the -e
 * variables, redirects stdio, execs PROGRAM and waits for it with wait4().
 * Prints exactly one line on its own stdout:
 *
 *   status=<ok|exit:N|signal:NAME|timeout|exec-failed> wall_s=<s> user_s=<s> sys_s=<s> maxrss_kb=<kB>
 *
 * wall_s is CLOCK_MONOTONIC from fork to reap; maxrss_kb is the child's peak
 * resident set size (ru_maxrss).  On timeout the child's process group is
 * SIGKILLed.  The runner's own exit status is 0 whenever it could report,
 * so a crashing allocator never aborts the driver script.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t timed_out = 0;
static volatile pid_t child_pid = 0;

static void on_alarm(int sig)
{
    (void)sig;
    timed_out = 1;
    if (child_pid > 0) {
        kill(-child_pid, SIGKILL);
        kill(child_pid, SIGKILL);
    }
}

static void usage(void)
{
    fprintf(stderr, "usage: runner [-p PRELOAD] [-e VAR=VAL]... [-i STDIN] [-o STDOUT] "
                    "[-E STDERR] [-t TIMEOUT_S] -- PROGRAM [ARGS...]\n");
    exit(2);
}

static void redirect(const char *path, int fd, int flags)
{
    if (!path)
        return;
    int f = open(path, flags, 0644);
    if (f < 0) {
        fprintf(stderr, "runner: cannot open %s: %s\n", path, strerror(errno));
        _exit(126);
    }
    if (dup2(f, fd) < 0)
        _exit(126);
    close(f);
}

static double tv_s(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec * 1e-6;
}

int main(int argc, char **argv)
{
    const char *preload = NULL, *in = NULL, *out = NULL, *err = NULL;
    char *envs[64];
    int nenv = 0;
    unsigned timeout = 0;
    int opt;
    while ((opt = getopt(argc, argv, "+p:e:i:o:E:t:")) != -1) {
        switch (opt) {
        case 'p': preload = optarg; break;
        case 'e':
            if (nenv == 64 || !strchr(optarg, '='))
                usage();
            envs[nenv++] = optarg;
            break;
        case 'i': in = optarg; break;
        case 'o': out = optarg; break;
        case 'E': err = optarg; break;
        case 't': timeout = (unsigned)strtoul(optarg, NULL, 10); break;
        default: usage();
        }
    }
    if (optind >= argc)
        usage();
    char **cmd = &argv[optind];

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);

    fflush(NULL);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("runner: fork");
        return 2;
    }
    if (pid == 0) {
        setpgid(0, 0);
        signal(SIGALRM, SIG_DFL);
        unsetenv("LD_PRELOAD");
        if (preload && *preload)
            setenv("LD_PRELOAD", preload, 1);
        for (int i = 0; i < nenv; i++)
            putenv(envs[i]);
        redirect(in, 0, O_RDONLY);
        redirect(out, 1, O_WRONLY | O_CREAT | O_TRUNC);
        redirect(err, 2, O_WRONLY | O_CREAT | O_TRUNC);
        execvp(cmd[0], cmd);
        fprintf(stderr, "runner: exec %s: %s\n", cmd[0], strerror(errno));
        _exit(127);
    }
    child_pid = pid;
    setpgid(pid, pid); /* also from the parent, to avoid a race with kill(-pid) */
    if (timeout)
        alarm(timeout);

    int st = 0;
    struct rusage ru;
    memset(&ru, 0, sizeof ru);
    for (;;) {
        pid_t w = wait4(pid, &st, 0, &ru);
        if (w == pid)
            break;
        if (w < 0 && errno != EINTR) {
            perror("runner: wait4");
            return 2;
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    alarm(0);

    char status[64];
    if (timed_out) {
        snprintf(status, sizeof status, "timeout");
    } else if (WIFEXITED(st)) {
        int code = WEXITSTATUS(st);
        if (code == 0)
            snprintf(status, sizeof status, "ok");
        else if (code == 127)
            snprintf(status, sizeof status, "exec-failed");
        else
            snprintf(status, sizeof status, "exit:%d", code);
    } else if (WIFSIGNALED(st)) {
        const char *name = sigabbrev_np(WTERMSIG(st));
        if (name)
            snprintf(status, sizeof status, "signal:%s", name);
        else
            snprintf(status, sizeof status, "signal:%d", WTERMSIG(st));
    } else {
        snprintf(status, sizeof status, "unknown");
    }
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
    printf("status=%s wall_s=%.6f user_s=%.6f sys_s=%.6f maxrss_kb=%ld\n", status, wall,
           tv_s(ru.ru_utime), tv_s(ru.ru_stime), ru.ru_maxrss);
    return 0;
}

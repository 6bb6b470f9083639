/* runner — run one benchmark command and measure it from outside.
 *
 * usage: runner [-p PRELOAD_SO] [-e VAR=VALUE]... [-i STDIN] [-o STDOUT] [-E STDERR]
 *               [-t TIMEOUT_S] [-s RSS_FILE [-S INTERVAL_MS]] -- PROGRAM [ARGS...]
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
 * SIGKILLed.
 *
 * With -s, a sampling thread of the runner reads the child's resident set
 * size from /proc/PID/statm every INTERVAL_MS (default 50) and writes one
 * line per sample to RSS_FILE: `<seconds since fork> <rss kB>`.  Sampling
 * from outside leaves the workload untouched (no extra thread in it).  The runner's own exit status is 0 whenever it could report,
 * so a crashing allocator never aborts the driver script.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
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
                    "[-E STDERR] [-t TIMEOUT_S] [-s RSS_FILE [-S INTERVAL_MS]] "
                    "-- PROGRAM [ARGS...]\n");
    exit(2);
}

/* ------------------------------------------------------------ RSS sampler */

static struct {
    FILE *out;
    pid_t pid;
    unsigned interval_ms;
    struct timespec t0;
    pthread_mutex_t lock;
    pthread_cond_t cv;
    int stop;
} sampler = {.lock = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

static long child_rss_kb(pid_t pid)
{
    char path[64], buf[128];
    snprintf(path, sizeof path, "/proc/%d/statm", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof buf - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = '\0';
    char *sp = strchr(buf, ' ');
    if (!sp)
        return -1;
    return strtol(sp + 1, NULL, 10) * (sysconf(_SC_PAGESIZE) / 1024);
}

static void *sampler_main(void *arg)
{
    (void)arg;
    struct timespec next;
    clock_gettime(CLOCK_MONOTONIC, &next);
    pthread_mutex_lock(&sampler.lock);
    while (!sampler.stop) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        long kb = child_rss_kb(sampler.pid);
        /* a zombie (exited, not yet reaped) reads as 0: not a sample */
        if (kb > 0)
            fprintf(sampler.out, "%.4f %ld\n",
                    (double)(now.tv_sec - sampler.t0.tv_sec) +
                        (double)(now.tv_nsec - sampler.t0.tv_nsec) * 1e-9,
                    kb);
        next.tv_nsec += (long)sampler.interval_ms * 1000000L;
        while (next.tv_nsec >= 1000000000L) {
            next.tv_nsec -= 1000000000L;
            next.tv_sec++;
        }
        while (!sampler.stop) {
            /* the condition variable uses CLOCK_MONOTONIC (set in main) */
            int rc = pthread_cond_timedwait(&sampler.cv, &sampler.lock, &next);
            if (rc == ETIMEDOUT)
                break;
        }
    }
    pthread_mutex_unlock(&sampler.lock);
    return NULL;
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
    const char *rss_file = NULL;
    unsigned interval_ms = 50;
    int opt;
    while ((opt = getopt(argc, argv, "+p:e:i:o:E:t:s:S:")) != -1) {
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
        case 's': rss_file = optarg; break;
        case 'S':
            interval_ms = (unsigned)strtoul(optarg, NULL, 10);
            if (interval_ms == 0)
                usage();
            break;
        default: usage();
        }
    }
    if (optind >= argc)
        usage();
    char **cmd = &argv[optind];
    FILE *rss_out = NULL;
    if (rss_file) {
        rss_out = fopen(rss_file, "w");
        if (!rss_out) {
            fprintf(stderr, "runner: cannot open %s: %s\n", rss_file, strerror(errno));
            return 2;
        }
    }

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

    pthread_t sampler_tid;
    int sampling = 0;
    if (rss_out) {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&sampler.cv, &ca);
        sampler.out = rss_out;
        sampler.pid = pid;
        sampler.interval_ms = interval_ms;
        sampler.t0 = t0;
        /* the alarm must reach the main thread (blocked in wait4): the
         * sampler blocks SIGALRM */
        sigset_t set, old;
        sigemptyset(&set);
        sigaddset(&set, SIGALRM);
        pthread_sigmask(SIG_BLOCK, &set, &old);
        sampling = pthread_create(&sampler_tid, NULL, sampler_main, NULL) == 0;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }

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
    if (sampling) {
        pthread_mutex_lock(&sampler.lock);
        sampler.stop = 1;
        pthread_cond_signal(&sampler.cv);
        pthread_mutex_unlock(&sampler.lock);
        pthread_join(sampler_tid, NULL);
    }
    if (rss_out)
        fclose(rss_out);

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

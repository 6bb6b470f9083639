// expect: exit 0
/* fork_mt: fork() in a multi-threaded process while other threads are in
 * the middle of malloc/free (ports tst-malloc-fork-deadlock and the
 * multi-threaded part of tst-mallocfork2's intent).
 *
 * Usage: fork_mt [FORKS]   (default 200)
 *
 * The parent runs two allocator threads (continuous malloc/free/realloc of
 * mixed sizes, and "publishing" pattern-filled blocks into shared slots), a
 * stdio thread (open_memstream/fprintf/getline, which malloc under stdio
 * locks), and forks from two threads at once (the main thread and a forker
 * thread).  Before each fork the forking thread allocates a set of blocks.
 * Each child:
 *   - checks that the pthread_atfork child handler ran (all atfork handlers
 *     malloc and free);
 *   - verifies and frees the blocks its parent thread allocated before the
 *     fork, and blocks taken from the shared slots -- these were allocated by
 *     threads that do not exist in the child;
 *   - mallocs/frees a mix of sizes, uses stdio, and every 4th child starts a
 *     thread that does the same and frees part of the inherited blocks;
 *   - exits with _exit(0).
 * The parent checks every child's exit status and frees its own copies.  A
 * watchdog turns a deadlock into a prompt failure (children have their own).
 */
#include "common.h"

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#define NWORKERS 2
#define NSLOTS 64
#define NPARENT_BLOCKS 24

struct pub {
    size_t n;
    uint64_t seed;
    unsigned char data[];
};

static _Atomic(struct pub *) slots[NSLOTS];
static atomic_int stop;
static atomic_ulong worker_ops;
static int total_forks = 200;

/* ---- watchdog that also kills outstanding children */
static volatile pid_t children[2];

static void watchdog_kill_handler(int sig)
{
    (void)sig;
    static const char msg[] = "FAIL: fork_mt watchdog expired: deadlock?\n";
    ssize_t w UNUSED = write(2, msg, sizeof msg - 1);
    for (int i = 0; i < 2; i++)
        if (children[i] > 0)
            kill(children[i], SIGKILL);
    _exit(3);
}

/* ---- atfork handlers: malloc and free in all three */
static atomic_ulong atfork_prepare_calls;
static int child_handler_ran;

static void churn(unsigned salt)
{
    void *p[6];
    for (int i = 0; i < 6; i++) {
        size_t n = (size_t)((salt + (unsigned)i) * 389 % 6000) + 1;
        p[i] = malloc(n);
        CHECK(p[i] != NULL, "malloc(%zu)", n);
        memset(p[i], i, n);
    }
    for (int i = 5; i >= 0; i--)
        free(p[i]);
}

static void atfork_prepare(void)
{
    churn(1);
    atomic_fetch_add(&atfork_prepare_calls, 1);
}
static void atfork_parent(void) { churn(2); }
static void atfork_child(void)
{
    churn(3);
    child_handler_ran = 1;
}

/* ---- blocks */
static struct pub *new_pub(size_t n, uint64_t seed)
{
    struct pub *b = malloc(sizeof *b + n);
    CHECK(b != NULL, "malloc(%zu)", sizeof *b + n);
    b->n = n;
    b->seed = mix64(seed ^ (uint64_t)(uintptr_t)b);
    fill_pattern(b->data, n, b->seed);
    return b;
}

static void check_free_pub(struct pub *b, const char *ctx)
{
    CHECK(is_aligned(b, 16), "%s: misaligned block %p", ctx, (void *)b);
    CHECK_PATTERN(b->data, b->n, b->seed, "%s: block corrupted", ctx);
    free(b);
}

static size_t pick_size(rng_t *r)
{
    uint64_t x = rng_below(r, 100);
    if (x < 80)
        return (size_t)rng_range(r, 1, 2048);
    if (x < 95)
        return (size_t)rng_range(r, 2049, 65536);
    return (size_t)rng_range(r, 65537, 400000);
}

/* ---- parent threads */
static void *worker_main(void *arg)
{
    unsigned id = (unsigned)(uintptr_t)arg;
    rng_t r;
    rng_seed(&r, 77 + id);
    enum { TABLE = 192 };
    struct pub *table[TABLE] = {0};
    unsigned long ops = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        unsigned s = (unsigned)rng_below(&r, TABLE);
        switch (rng_below(&r, 8)) {
        case 0: { /* publish */
            struct pub *b = new_pub(pick_size(&r), ops);
            struct pub *old = atomic_exchange(&slots[rng_below(&r, NSLOTS)], b);
            if (old)
                check_free_pub(old, "published block (parent)");
            break;
        }
        case 1: /* realloc */
            if (table[s]) {
                CHECK_PATTERN(table[s]->data, table[s]->n, table[s]->seed,
                              "worker block corrupted");
                size_t m = pick_size(&r);
                struct pub *q = realloc(table[s], sizeof *q + m);
                CHECK(q != NULL, "realloc");
                q->n = m;
                q->seed = mix64(ops * 31 + id);
                fill_pattern(q->data, m, q->seed);
                table[s] = q;
            }
            break;
        default:
            if (table[s])
                check_free_pub(table[s], "worker block");
            table[s] = new_pub(pick_size(&r), ops * 7 + id);
            break;
        }
        ops++;
    }
    for (int i = 0; i < TABLE; i++)
        if (table[i])
            check_free_pub(table[i], "worker block (final)");
    atomic_fetch_add(&worker_ops, ops);
    return NULL;
}

static void stdio_work(unsigned salt)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    CHECK(f != NULL, "open_memstream");
    for (int i = 0; i < 200; i++)
        fprintf(f, "line %u %d %s\n", salt, i, "some text to make the buffer grow");
    CHECK(fclose(f) == 0, "fclose");
    CHECK(len > 0 && buf != NULL, "memstream empty");
    FILE *in = fmemopen(buf, len, "r");
    CHECK(in != NULL, "fmemopen");
    char *line = NULL;
    size_t cap = 0;
    int lines = 0;
    while (getline(&line, &cap, in) > 0)
        lines++;
    CHECK(lines == 200, "getline read %d lines", lines);
    free(line);
    fclose(in);
    free(buf);
}

static void *stdio_main(void *arg)
{
    (void)arg;
    unsigned salt = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        stdio_work(salt++);
        fflush(NULL);
        usleep(200); /* leave some CPU to the children on small machines */
    }
    return NULL;
}

/* ---- children */
struct child_thread_arg {
    struct pub **blocks;
    int from, to;
};

static void *child_thread_main(void *arg)
{
    struct child_thread_arg *a = arg;
    for (int i = a->from; i < a->to; i++) {
        check_free_pub(a->blocks[i], "pre-fork block (freed by child thread)");
        a->blocks[i] = NULL;
    }
    rng_t r;
    rng_seed(&r, 5);
    void *p[32] = {0};
    for (int i = 0; i < 500; i++) {
        int s = (int)rng_below(&r, 32);
        free(p[s]);
        p[s] = malloc(pick_size(&r));
        CHECK(p[s] != NULL, "malloc in child thread");
    }
    for (int i = 0; i < 32; i++)
        free(p[i]);
    stdio_work(99);
    return NULL;
}

static void child_main(struct pub **blocks, unsigned forkno)
{
    children[0] = children[1] = 0;
    alarm(30); /* inherited watchdog handler reports and exits 3 */
    CHECK(child_handler_ran, "pthread_atfork child handler did not run");

    int nthreads_freed = 0;
    pthread_t th;
    struct child_thread_arg ta = {blocks, NPARENT_BLOCKS / 2, NPARENT_BLOCKS};
    int with_thread = forkno % 4 == 0;
    if (with_thread) {
        CHECK(pthread_create(&th, NULL, child_thread_main, &ta) == 0,
              "pthread_create in child");
        nthreads_freed = NPARENT_BLOCKS / 2;
    }
    for (int i = 0; i < NPARENT_BLOCKS - nthreads_freed; i++)
        check_free_pub(blocks[i], "pre-fork block (freed by child)");

    /* Blocks published by parent threads that do not exist here. */
    for (int i = 0; i < NSLOTS; i++) {
        struct pub *b = atomic_exchange(&slots[i], NULL);
        if (b)
            check_free_pub(b, "block published by a parent thread (freed by child)");
    }

    rng_t r;
    rng_seed(&r, forkno);
    void *p[64] = {0};
    size_t pn[64] = {0};
    for (int i = 0; i < 400; i++) {
        int s = (int)rng_below(&r, 64);
        if (p[s]) {
            CHECK_PATTERN(p[s], pn[s], (uint64_t)s, "child block corrupted");
            free(p[s]);
        }
        pn[s] = pick_size(&r);
        p[s] = rng_below(&r, 4) == 0 ? calloc(1, pn[s]) : malloc(pn[s]);
        CHECK(p[s] != NULL, "malloc in child");
        fill_pattern(p[s], pn[s], (uint64_t)s);
    }
    for (int i = 0; i < 64; i++)
        free(p[i]);
    stdio_work(forkno);
    if (with_thread)
        CHECK(pthread_join(th, NULL) == 0, "pthread_join in child");
    _exit(0);
}

static void do_forks(int idx, int count, unsigned salt)
{
    struct pub *blocks[NPARENT_BLOCKS];
    rng_t r;
    rng_seed(&r, salt);
    for (int f = 0; f < count; f++) {
        for (int i = 0; i < NPARENT_BLOCKS; i++)
            blocks[i] = new_pub(i == 0 ? 1 << 20 : pick_size(&r), salt + (unsigned)f);
        unsigned forkno = salt + (unsigned)f;
        pid_t pid = fork();
        CHECK(pid >= 0, "fork: %s", strerror(errno));
        if (pid == 0)
            child_main(blocks, forkno);
        children[idx] = pid;
        int status;
        pid_t w;
        do
            w = waitpid(pid, &status, 0);
        while (w < 0 && errno == EINTR);
        children[idx] = 0;
        CHECK(w == pid, "waitpid: %s", strerror(errno));
        if (WIFSIGNALED(status))
            FAIL("child %u killed by signal %d (%s)", forkno, WTERMSIG(status),
                 strsignal(WTERMSIG(status)));
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child %u exited with status %d", forkno, WEXITSTATUS(status));
        /* Parent's copies are untouched by the child. */
        for (int i = 0; i < NPARENT_BLOCKS; i++)
            check_free_pub(blocks[i], "pre-fork block (parent copy)");
    }
}

static void *forker_main(void *arg)
{
    int count = (int)(intptr_t)arg;
    do_forks(1, count, 100000);
    return NULL;
}

int main(int argc, char **argv)
{
    if (argc > 1)
        total_forks = atoi(argv[1]);
    CHECK(total_forks > 0, "bad fork count");

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = watchdog_kill_handler;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, NULL);
    alarm(60);

    fflush(stdout);
    CHECK(pthread_atfork(atfork_prepare, atfork_parent, atfork_child) == 0,
          "pthread_atfork");

    pthread_t workers[NWORKERS], stdio_th, forker;
    for (int i = 0; i < NWORKERS; i++)
        CHECK(pthread_create(&workers[i], NULL, worker_main, (void *)(uintptr_t)i) == 0,
              "pthread_create");
    CHECK(pthread_create(&stdio_th, NULL, stdio_main, NULL) == 0, "pthread_create");
    int by_forker = total_forks * 2 / 5;
    CHECK(pthread_create(&forker, NULL, forker_main, (void *)(intptr_t)by_forker) == 0,
          "pthread_create");

    do_forks(0, total_forks - by_forker, 0);

    CHECK(pthread_join(forker, NULL) == 0, "pthread_join");
    atomic_store(&stop, 1);
    for (int i = 0; i < NWORKERS; i++)
        CHECK(pthread_join(workers[i], NULL) == 0, "pthread_join");
    CHECK(pthread_join(stdio_th, NULL) == 0, "pthread_join");
    for (int i = 0; i < NSLOTS; i++) {
        struct pub *b = atomic_exchange(&slots[i], NULL);
        if (b)
            check_free_pub(b, "published block (final)");
    }
    CHECK(atomic_load(&atfork_prepare_calls) == (unsigned long)total_forks,
          "atfork prepare handler ran %lu times, expected %d",
          (unsigned long)atomic_load(&atfork_prepare_calls), total_forks);
    alarm(0);
    printf("%d forks, %lu worker operations\n", total_forks,
           (unsigned long)atomic_load(&worker_ops));
    ok("fork_mt");
    return 0;
}

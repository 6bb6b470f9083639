/* fault_shim: simulate zslab's failure-injection variables from outside,
 * for checking the failure-injection tests against a zslab build that does
 * not implement them (or to cross-check one that does).
 *
 * Build and use (from the repository root):
 *   gcc -O2 -shared -fPIC -o preload-tests/build/fault_shim.so \
 *       preload-tests/lib/fault_shim.c -ldl
 *   LD_PRELOAD="$PWD/target/release/libzslab.so $PWD/preload-tests/build/fault_shim.so" \
 *       ZSLAB_FAIL_MMAP=1 preload-tests/build/fail_mmap --child 1
 *
 * It interposes mmap, madvise and pthread_create and fails, like the
 * contract of the real variables says, calls whose caller lies in a loaded
 * object whose file name contains "libzslab":
 *   ZSLAB_FAIL_MMAP=N     the N-th such mmap and every later one: MAP_FAILED,
 *                         errno ENOMEM
 *   ZSLAB_FAIL_MADVISE=N  the same for madvise: -1, errno EAGAIN
 *   ZSLAB_FAIL_THREAD=1   pthread_create returns EAGAIN
 * Calls from anywhere else (the program, glibc's own malloc, which calls
 * mmap internally and never through this symbol) pass through.  With
 * FAULT_SHIM_VERBOSE=1 every injected failure is reported on stderr.
 * Not a test: run.sh compiles only the .c files directly in preload-tests.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

static atomic_long mmap_calls, madvise_calls;

static int from_zslab(const void *ret)
{
    Dl_info info;
    return dladdr(ret, &info) && info.dli_fname && strstr(info.dli_fname, "libzslab");
}

static long env_long(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? atol(v) : 0;
}

static void say(const char *what)
{
    if (env_long("FAULT_SHIM_VERBOSE")) {
        ssize_t w = write(2, what, strlen(what));
        (void)w;
    }
}

void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
    if (from_zslab(__builtin_return_address(0))) {
        long n = env_long("ZSLAB_FAIL_MMAP");
        long k = atomic_fetch_add(&mmap_calls, 1) + 1;
        if (n > 0 && k >= n) {
            say("fault_shim: failing a zslab mmap\n");
            errno = ENOMEM;
            return MAP_FAILED;
        }
    }
    /* the system call itself: dlsym could allocate, re-entering zslab in the
     * middle of its initialisation */
    long r = syscall(SYS_mmap, addr, len, prot, flags, fd, off);
    return (void *)r;
}

int madvise(void *addr, size_t len, int advice)
{
    if (from_zslab(__builtin_return_address(0))) {
        long n = env_long("ZSLAB_FAIL_MADVISE");
        long k = atomic_fetch_add(&madvise_calls, 1) + 1;
        if (n > 0 && k >= n) {
            say("fault_shim: failing a zslab madvise\n");
            errno = EAGAIN;
            return -1;
        }
    }
    return (int)syscall(SYS_madvise, addr, len, advice);
}

int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*fn)(void *), void *arg)
{
    static int (*real)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *);
    if (!real)
        real = (int (*)(pthread_t *, const pthread_attr_t *, void *(*)(void *), void *))
            dlsym(RTLD_NEXT, "pthread_create");
    if (from_zslab(__builtin_return_address(0)) && env_long("ZSLAB_FAIL_THREAD")) {
        say("fault_shim: failing zslab's pthread_create\n");
        return EAGAIN;
    }
    return real(t, a, fn, arg);
}

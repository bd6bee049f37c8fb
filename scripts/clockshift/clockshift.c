/* clockshift: move the wall clock (CLOCK_REALTIME) of a process tree by a fixed number of
 * seconds, leaving CLOCK_MONOTONIC and every sleep and timed wait alone.
 *
 * Why not libfaketime: Debian's 0.9.10 also shifts CLOCK_MONOTONIC (Python's timed waits then
 * block for the whole offset: threading.Event().wait(0.1) never returns) or, with
 * FAKETIME_DONT_FAKE_MONOTONIC=1, makes time.sleep() fail with EINVAL. A calendar time bomb
 * lives in wall-clock readings only, so that is all this shifts.
 *
 * Build: gcc -shared -fPIC -O2 -o clockshift.so clockshift.c -ldl
 * Use:   CLOCKSHIFT_SECONDS=157680000 LD_PRELOAD=$PWD/clockshift.so python -c 'import time; ...'
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long shift_seconds(void) {
    static int ready = 0;
    static long long value = 0;
    if (!ready) {
        const char *text = getenv("CLOCKSHIFT_SECONDS");
        value = text ? atoll(text) : 0;
        ready = 1;
    }
    return value;
}

static int shifted(clockid_t id) {
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE || id == CLOCK_TAI;
}

int clock_gettime(clockid_t id, struct timespec *tp) {
    static int (*real)(clockid_t, struct timespec *) = NULL;
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int rc = real(id, tp);
    if (rc == 0 && shifted(id)) tp->tv_sec += shift_seconds();
    return rc;
}

int gettimeofday(struct timeval *tv, void *tz) {
    static int (*real)(struct timeval *, void *) = NULL;
    if (!real) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    int rc = real(tv, tz);
    if (rc == 0) tv->tv_sec += shift_seconds();
    return rc;
}

time_t time(time_t *out) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (out) *out = now.tv_sec;
    return now.tv_sec;
}

/*
 * ferry-fsyncprobe: how long a small write plus fdatasync(2) takes on this
 * machine's disk, alone and while other threads keep the CPUs busy. It is
 * the cost under every acknowledged webhook (a group commit ends in one
 * fdatasync of the WAL), measured without ferry, SQLite or the network,
 * so a latency goal can be checked against what the disk gives.
 * A benchmark tool, not a test (bench/README.md).
 *
 *   ferry-fsyncprobe [--seconds S] [--size BYTES] [--busy THREADS]
 *                    [--interval-us US] DIR
 *
 * Appends BYTES (default 16384) to a new file in DIR and fdatasyncs it, in a
 * loop for S seconds (default 4), wrapping at 64 MB, while THREADS threads
 * (default 0) spin. With --interval-us, each write starts US microseconds
 * after the previous one started (or at once if that one took longer), so
 * the flush rate can be set as a group commit would set it. Prints one 'key value' line per figure:
 * n, p50_ms, p99_ms, p999_ms, max_ms, over_4ms (how many took longer than 4 ms), and
 * over_4ms_phase: for those, the millisecond within the wall-clock 100 ms
 * period at which each ended (a stall that ends on a fixed phase comes from
 * something periodic outside the process). The file is removed at the end.
 */
#include "core/common.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "core/clock.h"

#define WRAP     (64L << 20)
#define MAX_SLOW 64

static atomic_bool stop;

static void *spin(void *arg)
{
    (void)arg;
    volatile uint64_t n = 0;
    while (!atomic_load_explicit(&stop, memory_order_relaxed))
        n++;
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static long arg_long(const char *opt, const char *v, long lo, long hi)
{
    char *end = NULL;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || n < lo || n > hi) {
        fprintf(stderr, "ferry-fsyncprobe: %s wants a number from %ld to %ld\n", opt, lo, hi);
        exit(2);
    }
    return n;
}

int main(int argc, char **argv)
{
    long seconds = 4, size = 16384, busy = 0, interval_us = 0;
    const char *dir = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--seconds") == 0)
            seconds = arg_long("--seconds", argv[++i], 1, 3600);
        else if (strcmp(argv[i], "--size") == 0)
            size = arg_long("--size", argv[++i], 1, 16L << 20);
        else if (strcmp(argv[i], "--busy") == 0)
            busy = arg_long("--busy", argv[++i], 0, 64);
        else if (strcmp(argv[i], "--interval-us") == 0)
            interval_us = arg_long("--interval-us", argv[++i], 0, 1000000);
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else {
            fprintf(stderr, "usage: ferry-fsyncprobe [--seconds S] [--size BYTES] "
                            "[--busy THREADS] [--interval-us US] DIR\n");
            return 2;
        }
    }
    if (!dir) {
        fprintf(stderr, "ferry-fsyncprobe: which directory? (the disk to probe)\n");
        return 2;
    }
    char *path = fr_asprintf("%s/fsyncprobe-XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0) {
        fprintf(stderr, "ferry-fsyncprobe: cannot create a file in %s: %s\n", dir, strerror(errno));
        return 1;
    }
    pthread_t threads[64];
    for (long t = 0; t < busy; t++)
        if (pthread_create(&threads[t], NULL, spin, NULL) != 0) {
            fprintf(stderr, "ferry-fsyncprobe: cannot start a busy thread\n");
            return 1;
        }
    char *buf = fr_calloc(1, (size_t)size);
    memset(buf, 'x', (size_t)size);
    size_t cap = 1 << 16, n = 0, nslow = 0;
    int64_t *lat = fr_calloc(cap, sizeof(*lat));
    int phase[MAX_SLOW];
    off_t off = 0;
    int rc = 0;
    int64_t end = fr_now_ms() + seconds * 1000;
    int64_t next_us = fr_now_us();
    while (fr_now_ms() < end) {
        int64_t t0 = fr_now_us();
        if (t0 < next_us) {
            usleep((useconds_t)(next_us - t0));
            t0 = fr_now_us();
        }
        next_us = t0 + interval_us;
        if (pwrite(fd, buf, (size_t)size, off) != size || fdatasync(fd) != 0) {
            fprintf(stderr, "ferry-fsyncprobe: write or fdatasync failed: %s\n", strerror(errno));
            rc = 1;
            break;
        }
        int64_t us = fr_now_us() - t0;
        off = off + size >= WRAP ? 0 : off + size;
        if (n == cap)
            lat = fr_reallocarray(lat, cap *= 2, sizeof(*lat));
        lat[n++] = us;
        if (us > 4000 && nslow++ < MAX_SLOW)
            phase[nslow - 1] = (int)(fr_wall_ms() % 100);
    }
    atomic_store(&stop, true);
    for (long t = 0; t < busy; t++)
        pthread_join(threads[t], NULL);
    close(fd);
    unlink(path);
    if (!rc && n) {
        qsort(lat, n, sizeof(*lat), cmp_i64);
        printf("n %zu\np50_ms %.3f\np99_ms %.3f\np999_ms %.3f\nmax_ms %.3f\nover_4ms %zu\n", n,
               lat[n / 2] / 1e3, lat[n * 99 / 100] / 1e3, lat[n * 999 / 1000] / 1e3,
               lat[n - 1] / 1e3, nslow);
        printf("over_4ms_phase");
        for (size_t i = 0; i < nslow && i < MAX_SLOW; i++)
            printf(" %d", phase[i]);
        printf("\n");
    }
    free(lat);
    free(buf);
    free(path);
    return rc;
}

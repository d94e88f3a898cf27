/*
 * stop.h: how a run is asked to stop. A signal handler (`ferry run`) or
 * another thread (the scheduler of `ferry serve`, fr_sched_interrupt) sets
 * it; the engines read it through fr_run_stop_signo/_count, which are
 * atomic loads, so either writer is safe.
 */
#ifndef FR_JOB_STOP_H
#define FR_JOB_STOP_H

#include "core/common.h"
#include "job/job_conf.h"

#include <signal.h>

/* signo: the first stop signal (0: none); count: how many arrived (2: stop at once). */
struct fr_run_stop {
    volatile sig_atomic_t signo;
    volatile sig_atomic_t count;
};

/* The stop signal asked for, 0 for none; stop may be NULL. */
static inline int fr_run_stop_signo(const struct fr_run_stop *stop)
{
    return stop ? (int)__atomic_load_n(&stop->signo, __ATOMIC_RELAXED) : 0;
}

/* How many stop signals arrived; stop may be NULL. */
static inline int fr_run_stop_count(const struct fr_run_stop *stop)
{
    return stop ? (int)__atomic_load_n(&stop->count, __ATOMIC_RELAXED) : 0;
}

/* Asks for a stop from another thread, as one signal signo would. */
static inline void fr_run_stop_request(struct fr_run_stop *stop, int signo)
{
    __atomic_store_n(&stop->signo, signo, __ATOMIC_RELAXED);
    __atomic_store_n(&stop->count, 1, __ATOMIC_RELAXED);
}

#endif

#include "core/common.h"
#include "cli/exit.h"

#include "core/error.h"

/*
 * The status of each code of FR_ERR_MAP (core/error.h), decided once for
 * every command and both kinds of job. A code added there does not compile
 * until it has a row here. The classification of what failed is the
 * caller's: a source or sink that cannot be opened, a store whose URL is
 * wrong are FR_ECONFIG (2: the job could not run as configured); the same
 * file failing once the run is under way is FR_EIO or FR_EPARSE (1: the
 * job ran and failed), for push and pull alike.
 */
#define STATUS_INVAL       FR_EXIT_USAGE       /* a bad argument */
#define STATUS_CONFIG      FR_EXIT_USAGE       /* the config, or a file it names, is unusable */
#define STATUS_PARSE       FR_EXIT_FAILURES    /* input broke mid-run: a bad page, a bad CSV line */
#define STATUS_IO          FR_EXIT_FAILURES    /* a read or write failed mid-run: source, sink */
#define STATUS_NOTFOUND    FR_EXIT_FAILURES    /* something asked for is not there */
#define STATUS_TOOBIG      FR_EXIT_FAILURES    /* a size limit */
#define STATUS_AUTH        FR_EXIT_AUTH        /* credentials refused, a second 401 */
#define STATUS_UNREACHABLE FR_EXIT_UNREACHABLE /* retries ran out; cannot listen */
#define STATUS_REJECTED    FR_EXIT_FAILURES    /* the target refused a request (a 4xx) */
#define STATUS_TIMEOUT     FR_EXIT_UNREACHABLE /* the target did not answer in time */
#define STATUS_HTTP        FR_EXIT_UNREACHABLE /* the transfer itself failed */
#define STATUS_STORE       FR_EXIT_STORE       /* the store failed */
#define STATUS_INTERNAL    FR_EXIT_FAILURES    /* a thread or library that would not start */
#define STATUS_BUSY        FR_EXIT_BUSY        /* the job's run lock is held elsewhere */
#define STATUS_INDOUBT     FR_EXIT_FAILURES    /* an answer lost after sending, left unresolved */
#define STATUS_CANCELED    FR_EXIT_FAILURES    /* stopped before it was final (no signal) */

static const unsigned char statuses[FR_ERR__COUNT] = {[FR_OK] = FR_EXIT_OK,
#define FR_EXIT_ROW(name, msg) [FR_E##name] = STATUS_##name,
                                                      FR_ERR_MAP(FR_EXIT_ROW)
#undef FR_EXIT_ROW
};

int fr_cli_exit_status(int code)
{
    if (code < 0 || code >= FR_ERR__COUNT)
        return FR_EXIT_FAILURES;
    return statuses[code];
}

int fr_cli_run_exit_status(int code, bool over_threshold, int signo)
{
    if (signo)
        return FR_EXIT_SIGNAL_BASE + signo;
    if (code == FR_OK)
        return over_threshold ? FR_EXIT_FAILURES : FR_EXIT_OK;
    return fr_cli_exit_status(code);
}

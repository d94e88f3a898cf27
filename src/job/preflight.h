/*
 * preflight.h: what a job needs on this machine, checked before it runs,
 * so that `ferry check JOB` and `ferry run JOB --dry-run` do not vouch for
 * a job whose first real run would stop on a missing file.
 *
 * Checked in this order; the first failure stops the check:
 *   push job: the source opens as a run opens it: the file opens for
 *     reading and is not a directory, then fr_source_open (a csv's header
 *     row is read; a sqlite database opens read-only and its query is
 *     prepared, not run).
 *   pull job: the schema file, if any, is read and compiled
 *     (fr_schema_load); the sink's directory exists and this user may
 *     create files in it (access W_OK|X_OK: a file sink writes PATH.tmp
 *     there and renames it over PATH; a sqlite sink keeps its journal
 *     there), the sink path is not a directory, and an existing sqlite
 *     sink file is readable and writable; the rejects file's directory,
 *     if rejects is set, likewise.
 * Nothing is created, written or left open. Not checked here: the target
 * and its credentials (the network), the store, metrics_file.
 */
#ifndef FR_JOB_PREFLIGHT_H
#define FR_JOB_PREFLIGHT_H

#include "core/common.h"

#include "core/config.h"
#include "core/error.h"
#include "job/job_conf.h"

/*
 * Checks job's local resources (above). job is the job's own section; its
 * paths are already resolved (the loader joins relative ones to the config
 * file's directory). config_file names the config in messages
 * (struct fr_config.path) and config_dir is the directory relative paths
 * were resolved against (struct fr_config.dir): a path under it is shown
 * relative to it, as the file writes it (data/orders.csv, not
 * ./data/orders.csv). All borrowed for the call only.
 *
 * Returns 0 when the job can start here. Otherwise:
 *   FR_EIO     a file or directory cannot be opened, read or written
 *              (err->native is the errno when the OS refused);
 *   FR_ECONFIG its content is wrong: a schema ferry cannot apply, a sqlite
 *              query that does not prepare;
 *   FR_EPARSE  a csv source without a usable header row.
 * err->msg is one line naming the file, line and column of the key's value,
 * the key, what failed and why:
 *
 *   ferry.yaml:9:13: jobs.nightly.source.path: cannot open data/orders.csv:
 *   No such file or directory
 *
 * (one line; wrapped here).
 *
 * The CLI prints it as it is and exits 2 (configuration error).
 */
int fr_preflight_job(const struct fr_job_conf *job, const char *config_file, const char *config_dir,
                     struct fr_err *err);

#endif

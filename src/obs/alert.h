/*
 * alert.h: telling people a run crossed its alert threshold.
 *
 * Sinks: `webhook` POSTs {"text": ..., "summary": {...}} (Slack-compatible
 * "text") through the HTTP client with a few retries, its URL a secret shown
 * as scheme://host/[REDACTED] in every log line and error; `exec` runs a command
 * with /bin/sh -c (core/proc.h) in the config file's directory, the summary
 * JSON on its stdin and its output sent to ferry's stderr, its process group
 * killed after 30 s. A sink that fails is logged and does not change the
 * run's outcome.
 */
#ifndef FR_OBS_ALERT_H
#define FR_OBS_ALERT_H

#include "core/common.h"

#include <jansson.h>

#include "core/config.h"
#include "obs/obs_conf.h"

#define FR_ALERT_EXEC_TIMEOUT_MS 30000

/*
 * Notifies every sink; summary and text are borrowed. Returns how many
 * sinks failed (already logged).
 */
int fr_alert_notify(const struct fr_alert_sink_conf *sinks, size_t n, const char *workdir,
                    json_t *summary, const char *text);

/*
 * A run's alert hook (fr_run_alert_fn in job/run.h): every sink of the
 * config cfg (a const struct fr_config *) hears about a failed run.
 */
void fr_alert_failed_run(void *cfg, json_t *summary, const char *text);

#endif

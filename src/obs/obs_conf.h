/*
 * obs_conf.h: the alerts and status sections of ferry.yaml, parsed in the
 * layer that uses them (obs_conf.c). See core/config.h for the file as a
 * whole.
 */
#ifndef FR_OBS_OBS_CONF_H
#define FR_OBS_OBS_CONF_H

#include "core/common.h"

#include "core/config.h"

enum fr_alert_type { FR_ALERT_WEBHOOK, FR_ALERT_EXEC };

struct fr_alert_sink_conf {
    enum fr_alert_type type;
    char *url;     /* webhook: POST JSON with a Slack-compatible "text" */
    char *command; /* exec: run with /bin/sh -c, the summary JSON on stdin */
    int line, col;
};

/*
 * Trend alerts (alerts: as a mapping): each rule is evaluated every
 * evaluate_ms over a sliding window and notifies the sinks once when it
 * starts to hold and once when it stops.
 */
struct fr_trend_rule_conf {
    bool enabled;      /* the key is present */
    int64_t window_ms; /* the sliding window */
    double above;      /* error_rate: the fraction of failed requests */
    int64_t above_ms;  /* latency_p95: the threshold */
    int64_t min;       /* error_rate, latency_p95: the fewest requests in the window to judge;
                          token_refresh: the factor; dead_letters: the growth that fires */
};

struct fr_trends_conf {
    int64_t evaluate_ms; /* default 15s */
    struct fr_trend_rule_conf error_rate, latency_p95, token_refresh, dead_letters;
    bool stale_jobs; /* default true: a job with max_age whose last success is older */
};

/* Thresholds of `ferry status --check` and /readyz's view of jobs and queues. */
struct fr_status_conf {
    int recent_runs;            /* runs the success rate is taken over; default 10 */
    double min_success_rate;    /* a lower recent success rate fails the check; default 0 (off) */
    int64_t max_dead_letters;   /* more dead letters in a source fail the check; default 0 */
    int64_t max_pending_age_ms; /* an older pending event fails the check; default 0 (off) */
};

/* The sections "alerts" and "status", for the list src/cli loads with. */
extern const struct fr_config_section fr_alerts_section;
extern const struct fr_config_section fr_status_section;

#endif

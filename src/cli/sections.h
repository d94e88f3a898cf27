/*
 * sections.h: the sections of ferry.yaml, each owned by the layer that
 * reads it, in the order the load finishes them (a job's target is checked
 * once targets are read; a pull job's sink against the store's file).
 * Header-only, so that the tests and the fuzz targets load the same file
 * the command line does.
 */
#ifndef FR_CLI_SECTIONS_H
#define FR_CLI_SECTIONS_H

#include "core/config.h"
#include "hooks/hooks_conf.h"
#include "http/http_conf.h"
#include "job/job_conf.h"
#include "obs/obs_conf.h"
#include "store/store.h"

/* Every section of ferry.yaml, NULL-terminated, for fr_config_load. */
static inline const struct fr_config_section *const *fr_cli_sections(void)
{
    static const struct fr_config_section *const sections[] = {
        &fr_store_section,
        &fr_targets_section,
        &fr_jobs_section,
        &fr_alerts_section,
        &fr_status_section,
        &fr_webhooks_section,
        NULL,
    };
    return sections;
}

#endif

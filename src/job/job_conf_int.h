/*
 * job_conf_int.h: shared between the files of the jobs section only
 * (job_conf.c, push_conf.c, pull_conf.c). Not for other modules.
 */
#ifndef FR_JOB_JOB_CONF_INT_H
#define FR_JOB_JOB_CONF_INT_H

#include "core/common.h"

#include "core/config_table.h"
#include "job/job_conf.h"

/* The table of one job (job_conf.c): its keys of both kinds, variant "kind". */
extern const struct fr__cfg_table fr__job_job_table;

/* push_conf.c: the tables and parsers of a push job's keys. */
extern const struct fr__cfg_table fr__job_source_table;
extern const struct fr__cfg_table fr__job_request_table;
extern const struct fr__cfg_table fr__job_results_table;
extern const struct fr__cfg_table fr__job_lookup_table;
extern const struct fr__cfg_table fr__job_rollback_table;
int fr__job_parse_map(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path, void *field);
int fr__job_parse_results(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                          void *field);
int fr__job_parse_lookup(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field);
int fr__job_parse_rollback(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                           void *field);

/* pull_conf.c: the tables and parsers of a pull job's keys. */
extern const struct fr__cfg_table fr__job_pull_request_table;
extern const struct fr__cfg_table fr__job_paging_table;
extern const struct fr__cfg_table fr__job_pull_sink_table;
int fr__job_parse_paging(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                         void *field);
int fr__job_parse_watermark(struct fr__cfg_loader *ld, yaml_node_t *node, const char *path,
                            void *field);
/* Cross-checks of a pull job once its keys are set; found as for a table check. */
int fr__job_check_pull(struct fr__cfg_loader *ld, yaml_node_t *map, const char *path,
                       struct fr_job_conf *j, yaml_node_t **found);
/* p (owned) resolved against the config file's directory; returns the new string. */
char *fr__job_resolve_path(struct fr__cfg_loader *ld, char *p);

#endif

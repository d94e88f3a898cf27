/*
 * store_conf.c: the store section of ferry.yaml (store: URL), parsed in
 * the layer that opens it. See core/config.h for the file as a whole.
 */
#include "core/common.h"
#include "store/store.h"

#include "core/config_table.h"
#include "core/redact.h"

/*
 * The store URL's password (however written: ${DBURL} whole or in part,
 * percent-encoded) is a secret from here on, and where the URL is written
 * is kept for the messages of opening it.
 */
static int finish_store(struct fr__cfg_loader *ld, yaml_node_t *value)
{
    fr_redact_add_url_credentials(ld->cfg->store);
    ld->cfg->store_pos = fr__cfg_pos(value);
    return 0;
}

const struct fr_config_section fr_store_section = {
    .key = {.name = "store",
            .type = FR__CFG_STR,
            .offset = offsetof(struct fr_config, store),
            .def = "sqlite:ferry.db",
            .help = "where runs and the journal are kept"},
    .finish = finish_store,
};

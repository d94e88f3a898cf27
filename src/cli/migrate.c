/*
 * ferry migrate: the store's schema migrations, for operators who apply
 * them by hand before rolling out a new ferry (every ferry command also
 * applies them at start-up, under a lock).
 */
#include "core/common.h"
#include "cli/cli.h"

#include "store/store.h"

static const char usage[] =
    "usage: ferry migrate [--check] [-c FILE | --store URL]\n"
    "\n"
    "Applies the store's pending schema migrations, each once, in order, under a\n"
    "lock (PostgreSQL: an advisory lock; SQLite: the write lock), and records\n"
    "each in the store's schema_migrations table. Every ferry command does the\n"
    "same when it opens the store; this command is for doing it ahead of a\n"
    "rollout, with a separate, privileged database user if you like.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE     config file (default $FERRY_CONFIG, else ./ferry.yaml);\n"
    "                        its store: is migrated\n"
    "      --store URL       migrate this store instead (sqlite:PATH,\n"
    "                        postgresql://user@host:port/db); no config is read\n"
    "      --check           change nothing: exit 1 when migrations are pending or\n"
    "                        the store is newer than this ferry\n" FR_CLI_COMMON_HELP "\n"
    "Exit status: 0 up to date (or migrated), 1 --check found pending migrations,\n"
    "2 usage or config error, 5 the store failed.\n";

/* The latest schema version this ferry knows (both backends number alike). */
static int64_t latest_version(void)
{
    struct fr_store *st = NULL;
    int64_t current = 0, latest = 0;
    if (!fr_store_open_flags("sqlite::memory:", NULL, FR_STORE_NO_MIGRATE, &st, NULL))
        fr_store_schema(st, &current, &latest, NULL);
    fr_store_close(st);
    return latest;
}

/* --check where no store exists yet (SQLite): everything is pending, and nothing is created. */
static int check_missing(const char *msg)
{
    int64_t latest = latest_version();
    printf("schema version 0 of %lld: migrations pending\n", (long long)latest);
    fprintf(stderr, "ferry migrate: %s yet: %lld migration(s) pending (1 to %lld)\n", msg,
            (long long)latest, (long long)latest);
    return FR_EXIT_FAILURES;
}

/* The store of --store URL, or else of cfg (whose errors name where the file writes it). */
static int migrate(const char *url, const struct fr_config *cfg, bool check)
{
    struct fr_store *st = NULL;
    struct fr_err err = {0};
    /* --check changes nothing: not even an empty SQLite file where none was */
    unsigned flags = FR_STORE_NO_MIGRATE | (check ? FR_STORE_NO_CREATE : 0);
    if (url ? fr_store_open_flags(url, NULL, flags, &st, &err)
            : fr_store_open_config(cfg, flags, &st, &err)) {
        if (check && err.code == FR_ENOTFOUND)
            return check_missing(err.msg);
        fprintf(stderr, "ferry migrate: %s\n", err.msg);
        /* a store that does not open is a store failure, unless its URL is wrong */
        return fr_cli_exit_status(err.code == FR_ECONFIG ? FR_ECONFIG : FR_ESTORE);
    }
    int64_t current = 0, latest = 0, applied = 0;
    int status = FR_EXIT_OK;
    if (fr_store_schema(st, &current, &latest, &err)) {
        fprintf(stderr, "ferry migrate: %s\n", err.msg);
        status = FR_EXIT_STORE;
    } else if (current > latest) {
        fprintf(stderr,
                "ferry migrate: the store is at schema version %lld, newer than this ferry knows "
                "(%lld); upgrade ferry\n",
                (long long)current, (long long)latest);
        status = check ? FR_EXIT_FAILURES : FR_EXIT_STORE;
    } else if (check) {
        printf("schema version %lld of %lld: %s\n", (long long)current, (long long)latest,
               current == latest ? "up to date" : "migrations pending");
        if (current < latest) {
            fprintf(stderr, "ferry migrate: %lld migration(s) pending (%lld to %lld)\n",
                    (long long)(latest - current), (long long)current + 1, (long long)latest);
            status = FR_EXIT_FAILURES;
        }
    } else if (fr_store_migrate(st, &applied, &err)) {
        fprintf(stderr, "ferry migrate: %s\n", err.msg);
        status = FR_EXIT_STORE;
    } else {
        printf("schema version %lld of %lld: up to date (%lld applied now)\n", (long long)latest,
               (long long)latest, (long long)applied);
    }
    fr_store_close(st);
    return status;
}

struct migrate_opts {
    const char *store_url; /* --store: this store, and no config */
    bool check;
};

static int parse(struct fr_cli *c, int argc, char **argv)
{
    enum { OPT_CHECK = 0x5101, OPT_STORE };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"check", no_argument, NULL, OPT_CHECK},
        {"store", required_argument, NULL, OPT_STORE},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    struct migrate_opts *o = c->opts = fr_calloc(1, sizeof(*o));
    int opt, rc;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        switch (opt) {
        case 'h':
            fputs(usage, stdout);
            return FR_EXIT_OK;
        case 'c':
            c->config_path = optarg;
            break;
        case OPT_CHECK:
            o->check = true;
            break;
        case OPT_STORE:
            o->store_url = optarg;
            break;
        default:
            if ((rc = fr_cli_other_option("migrate", opt, optarg, argv)))
                return rc;
        }
    }
    if (optind < argc)
        return fr_cli_usage_error("migrate", "unexpected argument '%s'", argv[optind]);
    if (o->store_url && c->config_path)
        return fr_cli_usage_error("migrate", "--store and --config exclude each other");
    if (o->store_url)
        c->need &= ~(unsigned)FR_CLI_NEED_CONFIG;
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct migrate_opts *o = c->opts;
    return migrate(o->store_url, c->cfg, o->check);
}

const struct fr_cli_ops fr_cli_migrate = {.parse = parse, .run = run};

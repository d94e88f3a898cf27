#include "core/common.h"
#include "cli/cli.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#include <yaml.h>

#include "hooks/server.h"
#include "http/client.h"

static const char usage[] =
    "usage: ferry version\n\n"
    "Prints ferry's version and the versions of the libraries it runs on.\n\n"
    "options:\n" FR_CLI_COMMON_HELP;

static int parse(struct fr_cli *c, int argc, char **argv)
{
    static const struct option longopts[] = {FR_CLI_COMMON_LONGOPTS, {0}};
    int opt;
    while ((opt = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        if (opt == 'h') {
            fputs(usage, stdout);
            return FR_EXIT_OK;
        }
        int rc = fr_cli_other_option("version", opt, optarg, argv);
        if (rc)
            return rc;
    }
    if (optind < argc)
        return fr_cli_usage_error("version", "unexpected argument '%s'", argv[optind]);
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    printf("ferry %s\n", FERRY_VERSION);
    printf("libcurl %s, libmicrohttpd %s, jansson %s, libyaml %s, %s, sqlite %s\n",
           fr_http_lib_version(), fr_hook_server_lib_version(), JANSSON_VERSION,
           yaml_get_version_string(), OpenSSL_version(OPENSSL_VERSION), sqlite3_libversion());
    return FR_EXIT_OK;
}

const struct fr_cli_ops fr_cli_version = {.parse = parse, .run = run};

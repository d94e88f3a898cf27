#include "core/common.h"
#include "cli/cli.h"

#include "core/log.h"

int fr_cli_exit_status(int code)
{
    switch (code) {
    case FR_OK:
        return FR_EXIT_OK;
    case FR_EINVAL:
    case FR_ECONFIG:
        return FR_EXIT_USAGE;
    case FR_EAUTH:
        return FR_EXIT_AUTH;
    case FR_EUNREACHABLE:
    case FR_ETIMEOUT:
    case FR_EHTTP:
        return FR_EXIT_UNREACHABLE;
    case FR_ESTORE:
        return FR_EXIT_STORE;
    default:
        return FR_EXIT_FAILURES;
    }
}

int fr_cli_usage_error(const char *cmd, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *msg = fr_vasprintf(fmt, ap);
    va_end(ap);
    fprintf(stderr, "ferry %s: %s (see 'ferry %s --help')\n", cmd, msg, cmd);
    free(msg);
    return FR_EXIT_USAGE;
}

int fr_cli_bad_option(const char *cmd, char **argv)
{
    const char *arg = argv[optind - 1];
    if (optopt && !(arg[0] == '-' && arg[1] == '-'))
        return fr_cli_usage_error(cmd, "unknown option '-%c' or missing value", optopt);
    return fr_cli_usage_error(cmd, "unknown option or missing value: '%s'", arg);
}

int fr_cli_common_option(const char *cmd, int opt, const char *arg)
{
    enum fr_log_format format;
    enum fr_log_level level;
    switch (opt) {
    case FR_CLI_OPT_LOG_FORMAT:
        if (fr_log_parse_format(arg, &format))
            return fr_cli_usage_error(cmd, "--log-format must be json or text, not '%s'", arg);
        fr_log_set_format(format);
        return 0;
    case FR_CLI_OPT_LOG_LEVEL:
        if (fr_log_parse_level(arg, &level))
            return fr_cli_usage_error(
                cmd, "--log-level must be debug, info, warn or error, not '%s'", arg);
        fr_log_set_level(level);
        return 0;
    default:
        return -1;
    }
}

void fr_cli_log_init(void)
{
    enum fr_log_format format = FR_LOG_JSON;
    enum fr_log_level level = FR_LOG_INFO;
    const char *f = getenv("FERRY_LOG_FORMAT");
    const char *l = getenv("FERRY_LOG_LEVEL");
    if (f)
        fr_log_parse_format(f, &format);
    if (l)
        fr_log_parse_level(l, &level);
    fr_log_setup(format, level, NULL);
    opterr = 0; /* commands report unknown options themselves */
}
int fr_cli_load_config(const char *cmd, const char *path, struct fr_config **out)
{
    struct fr_err err = {0};
    const char *file = fr_config_default_path(path);
    int rc = fr_config_load(file, out, &err);
    if (rc) {
        fprintf(stderr, "ferry %s: %s\n", cmd, err.msg[0] ? err.msg : fr_strerror(rc));
        return FR_EXIT_USAGE;
    }
    for (size_t i = 0; i < (*out)->nwarnings; i++)
        FR_LOG_WARN((*out)->warnings[i], FR_LS("config", file));
    return FR_EXIT_OK;
}

/*
 * ferry dlq list|show|replay|purge: the webhook dead-letter queue, from the store.
 */
#include "core/common.h"
#include "cli/cli.h"

#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <pwd.h>
#include <unistd.h>

#include "core/clock.h"
#include "core/log.h"
#include "core/units.h"
#include "store/store.h"

static const char usage[] =
    "usage: ferry dlq list [--source S] [--limit N] [--json] [-c FILE]\n"
    "       ferry dlq show SEQ [--json] [-c FILE]\n"
    "       ferry dlq replay SEQ... | --all [--source S] | --source S [-c FILE]\n"
    "       ferry dlq purge SEQ... | --older-than DURATION [-c FILE]\n"
    "\n"
    "The webhook events that exhausted their delivery attempts (newest first),\n"
    "one of them with its body and last error, sending them back to the queue\n"
    "(attempts start again from 0; a running 'ferry serve' delivers them), or\n"
    "deleting them for good. SEQ is the number 'dlq list' shows.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE       config file (default $FERRY_CONFIG, else ./ferry.yaml)\n"
    "      --source S          only events of this webhook source (list, replay)\n"
    "      --limit N           at most N events (list; default 50, 0 for all)\n"
    "      --all               every dead event (replay)\n"
    "      --older-than DUR    every dead event that died more than DUR ago, e.g. 30d (purge)\n"
    "      --json              JSON instead of a table (list, show)\n" FR_CLI_COMMON_HELP "\n"
    "Exit status: 0 done, 2 usage error or an event that is not dead, 5 the store failed.\n";

struct opts {
    const char *source;
    long limit;
    bool all, json;
    int64_t older_than_ms; /* -1: not given */
    enum { LIST, SHOW, REPLAY, PURGE } which;
    char **args; /* after the subcommand: SEQ... */
    int nargs;
};

static void format_time(int64_t wall_ms, char *out, size_t len)
{
    fr_format_rfc3339(wall_ms, out, len);
    if (len > 19)
        out[19] = '\0'; /* to the second */
}

static json_t *event_json(const struct fr_event *e, bool with_body)
{
    char received[40], updated[40], next[40];
    fr_format_rfc3339(e->received_ms, received, sizeof(received));
    fr_format_rfc3339(e->updated_ms, updated, sizeof(updated));
    fr_format_rfc3339(e->next_attempt_ms, next, sizeof(next));
    json_t *j =
        json_pack("{s:I, s:s, s:s, s:s, s:i, s:s, s:s, s:s?, s:s?}", "seq", (json_int_t)e->seq,
                  "source", e->source, "event_id", e->event_id, "state",
                  fr_event_state_name(e->state), "attempts", e->attempts, "received", received,
                  "updated", updated, "content_type", e->content_type, "last_error", e->last_error);
    if (e->state == FR_EVENT_PENDING)
        json_object_set_new(j, "next_attempt", json_string(next));
    if (with_body && e->body) {
        json_t *b = json_stringn(e->body ? (const char *)e->body : "", e->body_len);
        if (b) {
            json_object_set_new(j, "body", b);
        } else { /* not UTF-8 text */
            char *b64 = fr_malloc(4 * ((e->body_len + 2) / 3) + 1);
            EVP_EncodeBlock((unsigned char *)b64, e->body, (int)e->body_len);
            json_object_set_new(j, "body_base64", json_string(b64));
            free(b64);
        }
    }
    return j;
}

struct list_ctx {
    json_t *array; /* --json */
    size_t n;
};

static int list_one(const struct fr_event *e, void *ud)
{
    struct list_ctx *ctx = ud;
    ctx->n++;
    if (ctx->array) {
        json_array_append_new(ctx->array, event_json(e, false));
        return 0;
    }
    char died[40];
    format_time(e->updated_ms, died, sizeof(died));
    printf("%-8lld %-16s %-19s %8d  %-36s %.60s\n", (long long)e->seq, e->source, died, e->attempts,
           e->event_id, e->last_error ? e->last_error : "");
    return 0;
}

static void print_json(json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2));
    puts(s);
    free(s);
    json_decref(j);
}

static int store_failed(const struct fr_err *err)
{
    fprintf(stderr, "ferry dlq: %s\n", err->msg);
    return FR_EXIT_STORE;
}

static int do_list(struct fr_store *st, const struct opts *o)
{
    struct fr_err err = {0};
    struct list_ctx ctx = {.array = o->json ? json_array() : NULL};
    if (!o->json)
        printf("%-8s %-16s %-19s %8s  %-36s %s\n", "SEQ", "SOURCE", "DEAD SINCE (UTC)", "ATTEMPTS",
               "EVENT ID", "LAST ERROR");
    if (fr_store_dlq_list(st, o->source, (size_t)o->limit, list_one, &ctx, &err)) {
        json_decref(ctx.array);
        return store_failed(&err);
    }
    if (o->json)
        print_json(ctx.array);
    return FR_EXIT_OK;
}

static int parse_seq(const char *s, int64_t *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || end == s || v <= 0)
        return fr_cli_usage_error("dlq",
                                  "'%s' is not an event SEQ (a number from 'ferry dlq list')", s);
    *out = v;
    return 0;
}

static int do_show(struct fr_store *st, const struct opts *o, const char *arg)
{
    int64_t seq;
    int status = parse_seq(arg, &seq);
    if (status)
        return status;
    struct fr_event e;
    struct fr_err err = {0};
    int rc = fr_store_event_get(st, seq, &e, &err);
    if (rc == FR_ENOTFOUND) {
        fprintf(stderr, "ferry dlq: no event %lld (see 'ferry dlq list')\n", (long long)seq);
        return FR_EXIT_USAGE;
    }
    if (rc)
        return store_failed(&err);
    if (o->json) {
        print_json(event_json(&e, true));
    } else {
        char received[40], updated[40];
        fr_format_rfc3339(e.received_ms, received, sizeof(received));
        fr_format_rfc3339(e.updated_ms, updated, sizeof(updated));
        printf("seq           %lld\nsource        %s\nevent id      %s\nstate         %s\n"
               "attempts      %d\nreceived      %s\nupdated       %s\ncontent type  %s\n"
               "last error    %s\nbody (%zu bytes):\n",
               (long long)e.seq, e.source, e.event_id, fr_event_state_name(e.state), e.attempts,
               received, updated, e.content_type ? e.content_type : "-",
               e.last_error ? e.last_error : "-", e.body_len);
        fwrite(e.body, 1, e.body_len, stdout);
        if (e.body_len && e.body[e.body_len - 1] != '\n')
            putchar('\n');
    }
    fr_event_release(&e);
    return FR_EXIT_OK;
}

static const char *who(void)
{
    const struct passwd *pw = getpwuid(geteuid());
    return pw && pw->pw_name ? pw->pw_name : "unknown";
}

/* replay or purge each SEQ in args; a SEQ that is not dead is reported and the rest go on. */
static int change_each(struct fr_store *st, bool replay, char **args, int nargs)
{
    int status = FR_EXIT_OK;
    uint64_t total = 0;
    for (int i = 0; i < nargs; i++) {
        int64_t seq;
        if (parse_seq(args[i], &seq))
            return FR_EXIT_USAGE;
        struct fr_err err = {0};
        uint64_t n = 0;
        int rc = replay ? fr_store_dlq_replay(st, seq, NULL, fr_wall_ms(), &n, &err)
                        : fr_store_dlq_purge(st, seq, 0, &n, &err);
        if (rc == FR_ENOTFOUND) {
            fprintf(stderr, "ferry dlq: event %lld is not in the dead-letter queue\n",
                    (long long)seq);
            status = FR_EXIT_USAGE;
            continue;
        }
        if (rc)
            return store_failed(&err);
        total += n;
        FR_LOG_INFO(replay ? "dlq replay" : "dlq purge", FR_LS("by", who()), FR_LI("seq", seq),
                    FR_LI("events", n));
    }
    printf("%s %llu event%s\n", replay ? "replayed" : "purged", (unsigned long long)total,
           total == 1 ? "" : "s");
    return status;
}

static int do_replay(struct fr_store *st, const struct opts *o, char **args, int nargs)
{
    if (nargs > 0 && (o->all || o->source))
        return fr_cli_usage_error("dlq", "replay takes SEQ... or --all/--source, not both");
    if (nargs == 0 && !o->all && !o->source)
        return fr_cli_usage_error("dlq", "replay needs SEQ..., --source S or --all");
    if (nargs > 0)
        return change_each(st, true, args, nargs);
    struct fr_err err = {0};
    uint64_t n = 0;
    if (fr_store_dlq_replay(st, 0, o->source, fr_wall_ms(), &n, &err))
        return store_failed(&err);
    FR_LOG_INFO("dlq replay", FR_LS("by", who()), FR_LS("source", o->source ? o->source : "*"),
                FR_LI("events", n));
    printf("replayed %llu event%s\n", (unsigned long long)n, n == 1 ? "" : "s");
    return FR_EXIT_OK;
}

static int do_purge(struct fr_store *st, const struct opts *o, char **args, int nargs)
{
    if (nargs > 0 && o->older_than_ms >= 0)
        return fr_cli_usage_error("dlq", "purge takes SEQ... or --older-than, not both");
    if (nargs == 0 && o->older_than_ms < 0)
        return fr_cli_usage_error("dlq", "purge needs SEQ... or --older-than DURATION");
    if (nargs > 0)
        return change_each(st, false, args, nargs);
    struct fr_err err = {0};
    uint64_t n = 0;
    if (fr_store_dlq_purge(st, 0, fr_wall_ms() - o->older_than_ms, &n, &err))
        return store_failed(&err);
    FR_LOG_INFO("dlq purge", FR_LS("by", who()), FR_LI("older_than_ms", o->older_than_ms),
                FR_LI("events", n));
    printf("purged %llu event%s\n", (unsigned long long)n, n == 1 ? "" : "s");
    return FR_EXIT_OK;
}

static int parse_args(int argc, char **argv, struct fr_cli *c, struct opts *o, bool *help)
{
    enum { OPT_SOURCE = 0x5001, OPT_LIMIT, OPT_ALL, OPT_OLDER, OPT_JSON };
    static const struct option longopts[] = {
        {"config", required_argument, NULL, 'c'},
        {"source", required_argument, NULL, OPT_SOURCE},
        {"limit", required_argument, NULL, OPT_LIMIT},
        {"all", no_argument, NULL, OPT_ALL},
        {"older-than", required_argument, NULL, OPT_OLDER},
        {"json", no_argument, NULL, OPT_JSON},
        FR_CLI_COMMON_LONGOPTS,
        {0},
    };
    int opt;
    while ((opt = getopt_long(argc, argv, "c:h", longopts, NULL)) != -1) {
        const char *why;
        char *end;
        switch (opt) {
        case 'h':
            *help = true;
            return 0;
        case 'c':
            c->config_path = optarg;
            break;
        case OPT_SOURCE:
            o->source = optarg;
            break;
        case OPT_LIMIT:
            errno = 0;
            o->limit = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || o->limit < 0)
                return fr_cli_usage_error("dlq", "--limit must be a whole number >= 0");
            break;
        case OPT_ALL:
            o->all = true;
            break;
        case OPT_OLDER:
            if (fr_parse_duration(optarg, &o->older_than_ms, &why))
                return fr_cli_usage_error("dlq", "--older-than '%s': %s", optarg, why);
            break;
        case OPT_JSON:
            o->json = true;
            break;
        default: {
            int rc = fr_cli_other_option("dlq", opt, optarg, argv);
            if (rc)
                return rc;
        }
        }
    }
    return 0;
}

static int parse(struct fr_cli *c, int argc, char **argv)
{
    struct opts *o = c->opts = fr_calloc(1, sizeof(*o));
    o->limit = 50;
    o->older_than_ms = -1;
    bool help = false;
    int status = parse_args(argc, argv, c, o, &help);
    if (status)
        return status;
    if (help) {
        fputs(usage, stdout);
        return FR_EXIT_OK;
    }
    if (optind >= argc)
        return fr_cli_usage_error("dlq", "missing list, show, replay or purge");
    const char *sub = argv[optind];
    o->args = argv + optind + 1;
    o->nargs = argc - optind - 1;
    if (strcmp(sub, "list") == 0)
        o->which = LIST;
    else if (strcmp(sub, "show") == 0)
        o->which = SHOW;
    else if (strcmp(sub, "replay") == 0)
        o->which = REPLAY;
    else if (strcmp(sub, "purge") == 0)
        o->which = PURGE;
    else
        return fr_cli_usage_error("dlq", "unknown subcommand '%s'; use list, show, replay or purge",
                                  sub);
    if (o->which == LIST && o->nargs > 0)
        return fr_cli_usage_error("dlq", "unexpected argument '%s'", o->args[0]);
    if (o->which == SHOW && o->nargs != 1)
        return fr_cli_usage_error("dlq", "show needs exactly one SEQ");
    return FR_CLI_GO_ON;
}

static int run(struct fr_cli *c)
{
    const struct opts *o = c->opts;
    switch (o->which) {
    case LIST:
        return do_list(c->store, o);
    case SHOW:
        return do_show(c->store, o, o->args[0]);
    case REPLAY:
        return do_replay(c->store, o, o->args, o->nargs);
    case PURGE:
        return do_purge(c->store, o, o->args, o->nargs);
    }
    return FR_EXIT_USAGE;
}

const struct fr_cli_ops fr_cli_dlq = {.parse = parse, .run = run};

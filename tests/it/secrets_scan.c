/*
 * secrets_scan DIR: the last step of the end-to-end suite (a ctest fixture
 * cleanup). While the it_* tests run, the harness collects in DIR every
 * secret it hands to ferry (secrets-PID: environment values, --client-secret)
 * and everything ferry produced (out-PID: each process's stdout and stderr,
 * every HTTP answer the tests read, and the stores, logs, sinks and metrics
 * files left in the tests' directories). This program fails when any of that
 * output holds a secret or an access token of the mock (they all start with
 * "mock_at_"). It names the file and the place, never the secret itself.
 */
#include "core/common.h"

#include <dirent.h>
#include <stdio.h>

#include "core/buf.h"
#include "mock/mock.h"

struct blob {
    char *name;
    char *data;
    size_t len;
};

static bool read_all(const char *path, struct blob *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    struct fr_buf buf = FR_BUF_INIT;
    char chunk[65536];
    size_t n;
    while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
        fr_buf_add(&buf, chunk, n);
    fclose(f);
    b->len = buf.len;
    b->data = fr_buf_detach(&buf, NULL);
    return true;
}

/* The label of the section of b holding offset at ("==== LABEL (N bytes)"). */
static void section_of(const struct blob *b, size_t at, char *out, size_t outlen)
{
    const char *mark = "\n==== ";
    const char *best = NULL;
    for (const char *p = b->data; p && p < b->data + at;) {
        p = memmem(p, (size_t)(b->data + at - p), mark, strlen(mark));
        if (p) {
            best = p + strlen(mark);
            p += strlen(mark);
        }
    }
    if (!best) {
        snprintf(out, outlen, "?");
        return;
    }
    const char *eol = memchr(best, '\n', (size_t)(b->data + b->len - best));
    size_t n = eol ? (size_t)(eol - best) : 0;
    snprintf(out, outlen, "%.*s", (int)FR_MIN(n, outlen - 1), best);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: secrets_scan DIR\n");
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        fprintf(stderr, "secrets_scan: cannot open %s\n", argv[1]);
        return 1;
    }
    struct blob *outs = NULL;
    size_t nouts = 0;
    char **secrets = NULL;
    size_t nsecrets = 0;
    struct dirent *de;
    while ((de = readdir(d))) {
        bool is_out = strncmp(de->d_name, "out-", 4) == 0;
        bool is_secrets = strncmp(de->d_name, "secrets-", 8) == 0;
        if (!is_out && !is_secrets)
            continue;
        char *path = fr_asprintf("%s/%s", argv[1], de->d_name);
        struct blob b = {.name = fr_strdup(de->d_name)};
        bool ok = read_all(path, &b);
        free(path);
        if (!ok) {
            free(b.name);
            continue;
        }
        if (is_out) {
            outs = fr_reallocarray(outs, nouts + 1, sizeof(*outs));
            outs[nouts++] = b;
            continue;
        }
        for (char *line = b.data, *next; line && *line; line = next) {
            next = strchr(line, '\n');
            if (next)
                *next++ = '\0';
            bool seen = false;
            for (size_t i = 0; i < nsecrets && !seen; i++)
                seen = strcmp(secrets[i], line) == 0;
            if (!seen && *line) {
                secrets = fr_reallocarray(secrets, nsecrets + 1, sizeof(*secrets));
                secrets[nsecrets++] = fr_strdup(line);
            }
        }
        free(b.name);
        free(b.data);
    }
    closedir(d);

    size_t bytes = 0, found = 0;
    for (size_t i = 0; i < nouts; i++) {
        const struct blob *b = &outs[i];
        bytes += b->len;
        for (size_t s = 0; s <= nsecrets; s++) {
            const char *needle = s < nsecrets ? secrets[s] : FR_MOCK_TOKEN_PREFIX;
            const char *hit = memmem(b->data, b->len, needle, strlen(needle));
            if (!hit)
                continue;
            char where[256];
            section_of(b, (size_t)(hit - b->data), where, sizeof(where));
            if (s < nsecrets)
                fprintf(stderr, "secrets_scan: %s: secret #%zu (%zu characters) appears in: %s\n",
                        b->name, s + 1, strlen(needle), where);
            else
                fprintf(stderr, "secrets_scan: %s: an access token of the mock appears in: %s\n",
                        b->name, where);
            found++;
        }
    }
    int status = 0;
    if (nouts == 0 || bytes == 0 || nsecrets == 0) {
        fprintf(stderr,
                "secrets_scan: nothing to scan in %s (%zu output files, %zu bytes, %zu secrets): "
                "the end-to-end tests did not record their output\n",
                argv[1], nouts, bytes, nsecrets);
        status = 1;
    } else if (found) {
        status = 1;
    } else {
        printf("secrets_scan: %zu output files, %zu bytes, %zu secrets and the mock's tokens: "
               "none found\n",
               nouts, bytes, nsecrets);
    }
    for (size_t i = 0; i < nouts; i++) {
        free(outs[i].name);
        free(outs[i].data);
    }
    free(outs);
    for (size_t i = 0; i < nsecrets; i++)
        free(secrets[i]);
    free(secrets);
    return status;
}

#include "core/common.h"
#include "fuzz_util.h"

#include <unistd.h>

#include "core/log.h"

char *fuzz_cstr(const uint8_t *data, size_t size)
{
    char *s = fr_malloc(size + 1);
    if (size)
        memcpy(s, data, size);
    s[size] = '\0';
    return s;
}

static char *temp_path;

static void remove_temp(void)
{
    if (temp_path)
        unlink(temp_path);
    free(temp_path);
    temp_path = NULL;
}

const char *fuzz_write_temp(const char *suffix, const uint8_t *data, size_t size)
{
    if (!temp_path) {
        const char *dir = getenv("TMPDIR");
        temp_path = fr_asprintf("%s/ferry-fuzz-XXXXXX%s", dir && *dir ? dir : "/tmp", suffix);
        int fd = mkstemps(temp_path, (int)strlen(suffix));
        if (fd < 0) {
            perror("fuzz: mkstemps");
            abort();
        }
        close(fd);
        atexit(remove_temp);
    }
    FILE *f = fopen(temp_path, "wb");
    if (!f || (size && fwrite(data, 1, size, f) != size) || fclose(f) != 0) {
        perror("fuzz: writing the scratch file");
        abort();
    }
    return temp_path;
}

void fuzz_split(const uint8_t *data, size_t size, const char *sep, const uint8_t **a, size_t *alen,
                const uint8_t **b, size_t *blen)
{
    size_t seplen = strlen(sep);
    const uint8_t *hit = size >= seplen ? memmem(data, size, sep, seplen) : NULL;
    *a = data;
    if (!hit) {
        *alen = size;
        *b = data + size;
        *blen = 0;
        return;
    }
    *alen = (size_t)(hit - data);
    *b = hit + seplen;
    *blen = size - *alen - seplen;
}

void fuzz_quiet_logs(void)
{
    fr_log_setup(FR_LOG_JSON, FR_LOG_ERROR, stderr);
}

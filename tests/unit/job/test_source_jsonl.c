#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <unistd.h>

#include "core/error.h"
#include "job/source.h"
#include "job/job_conf.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    fr_strlcpy(dir, "/tmp/fr_jsonl_XXXXXX", sizeof(dir));
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/in.jsonl", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static struct fr_source *open_text(const char *text)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
    struct fr_source_conf conf = {.type = FR_SOURCE_JSONL, .path = path};
    struct fr_source *src = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_source_open(&conf, &src, &err), 0);
    return src;
}

static void next(struct fr_source *src, struct fr_record *rec)
{
    bool eof = true;
    struct fr_err err = {0};
    assert_int_equal(fr_source_next(src, rec, &eof, &err), 0);
    assert_false(eof);
}

static void expect_eof(struct fr_source *src)
{
    struct fr_record rec;
    bool eof = false;
    assert_int_equal(fr_source_next(src, &rec, &eof, NULL), 0);
    assert_true(eof);
}

static void expect_obj(struct fr_source *src, uint64_t line, const char *id)
{
    struct fr_record rec;
    next(src, &rec);
    if (rec.error)
        print_error("%s\n", rec.error);
    assert_null(rec.error);
    assert_int_equal(rec.line, line);
    assert_string_equal(json_string_value(json_object_get(rec.fields, "id")), id);
    fr_record_release(&rec);
}

static void expect_error(struct fr_source *src, uint64_t line, const char *part)
{
    struct fr_record rec;
    next(src, &rec);
    assert_null(rec.fields);
    assert_non_null(rec.error);
    assert_int_equal(rec.line, line);
    char prefix[32];
    snprintf(prefix, sizeof(prefix), "line %llu: ", (unsigned long long)line);
    assert_memory_equal(rec.error, prefix, strlen(prefix));
    if (!strstr(rec.error, part))
        print_error("%s\n", rec.error);
    assert_non_null(strstr(rec.error, part));
    fr_record_release(&rec);
}

static void test_objects(void **state)
{
    struct fr_source *src = open_text("{\"id\": \"A1\", \"amount\": 12.5, \"n\": null}\n"
                                      "{\"id\": \"A2\", \"tags\": [1, 2]}\r\n"
                                      "{\"id\": \"A3\"}");
    struct fr_record rec;
    next(src, &rec);
    assert_int_equal(rec.line, 1);
    assert_true(json_is_real(json_object_get(rec.fields, "amount")));
    assert_true(json_is_null(json_object_get(rec.fields, "n")));
    fr_record_release(&rec);
    expect_obj(src, 2, "A2");
    expect_obj(src, 3, "A3");
    expect_eof(src);
    int64_t done, total;
    fr_source_progress(src, &done, &total);
    assert_true(total > 0);
    assert_int_equal(done, total);
    fr_source_close(src);
}

static void test_bad_lines(void **state)
{
    struct fr_source *src = open_text("{\"id\": \"A1\"}\n"
                                      "{\"id\": \"A2\",}\n"
                                      "{\"id\": \"A3\"}\n"
                                      "[1, 2]\n"
                                      "42\n"
                                      "\"text\"\n"
                                      "{\"id\": \"A7\"} trailing\n"
                                      "{\"id\": \"A8\", \"id\": \"again\"}\n"
                                      "{\"id\": \"A9\"}\n");
    expect_obj(src, 1, "A1");
    expect_error(src, 2, "line 2: ");
    expect_obj(src, 3, "A3");
    expect_error(src, 4, "an array, not a JSON object");
    expect_error(src, 5, "a number, not a JSON object");
    expect_error(src, 6, "a string, not a JSON object");
    expect_error(src, 7, "end of file expected");
    expect_error(src, 8, "duplicate object key");
    expect_obj(src, 9, "A9");
    expect_eof(src);
    fr_source_close(src);
}

static void test_blank_lines_and_bom(void **state)
{
    struct fr_source *src = open_text("\xEF\xBB\xBF{\"id\": \"A1\"}\n"
                                      "\n"
                                      "   \n"
                                      "\r\n"
                                      "  {\"id\": \"A5\"}  \n"
                                      "\n");
    expect_obj(src, 1, "A1");
    expect_obj(src, 5, "A5");
    expect_eof(src);
    fr_source_close(src);
}

/* A 3 MB line spans many read chunks; one past the 16 MB cap is a record error, then on. */
static void test_long_lines(void **state)
{
    size_t big = 3u << 20, huge = (16u << 20) + 10;
    char *pad = fr_malloc(huge + 1);
    memset(pad, 'x', huge);
    pad[huge] = '\0';
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fprintf(fp, "{\"id\": \"A1\", \"pad\": \"%.*s\"}\n", (int)big, pad);
    fprintf(fp, "{\"id\": \"A2\", \"pad\": \"%s\"}\n", pad);
    fprintf(fp, "{\"id\": \"A3\"}\n");
    fclose(fp);
    free(pad);

    struct fr_source_conf conf = {.type = FR_SOURCE_JSONL, .path = path};
    struct fr_source *src = NULL;
    assert_int_equal(fr_source_open(&conf, &src, NULL), 0);
    struct fr_record rec;
    next(src, &rec);
    assert_null(rec.error);
    assert_int_equal(json_string_length(json_object_get(rec.fields, "pad")), big);
    fr_record_release(&rec);
    expect_error(src, 2, "longer than 16 MB");
    expect_obj(src, 3, "A3");
    expect_eof(src);
    fr_source_close(src);
}

static void test_missing_file(void **state)
{
    struct fr_source_conf conf = {.type = FR_SOURCE_JSONL, .path = path};
    struct fr_source *src = NULL;
    struct fr_err err = {0};
    assert_int_equal(fr_source_open(&conf, &src, &err), FR_EIO);
    assert_null(src);
    assert_non_null(strstr(err.msg, path));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_blank_lines_and_bom, setup, teardown),
        cmocka_unit_test_setup_teardown(test_long_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_missing_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

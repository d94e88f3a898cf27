#include "core/common.h"

#include <setjmp.h>
#include <stdarg.h>
#include <cmocka.h>

#include <malloc.h>
#include <unistd.h>

#include "core/error.h"
#include "job/source.h"
#include "job/job_conf.h"

static char dir[64];
static char path[128];

static int setup(void **state)
{
    fr_strlcpy(dir, "/tmp/fr_csv_XXXXXX", sizeof(dir));
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/in.csv", dir);
    return 0;
}

static int teardown(void **state)
{
    unlink(path);
    rmdir(dir);
    return 0;
}

static void write_file(const char *text, size_t len)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    assert_int_equal(fwrite(text, 1, len, fp), len);
    fclose(fp);
}

static struct fr_source *open_text(const char *text)
{
    write_file(text, strlen(text));
    struct fr_source_conf conf = {.type = FR_SOURCE_CSV, .path = path};
    struct fr_source *src = NULL;
    struct fr_err err = {0};
    int rc = fr_source_open(&conf, &src, &err);
    if (rc)
        print_error("open: %s\n", err.msg);
    assert_int_equal(rc, 0);
    return src;
}

/* The next record, which must exist. */
static void next(struct fr_source *src, struct fr_record *rec)
{
    bool eof = true;
    struct fr_err err = {0};
    int rc = fr_source_next(src, rec, &eof, &err);
    if (rc)
        print_error("next: %s\n", err.msg);
    assert_int_equal(rc, 0);
    assert_false(eof);
}

static void expect_eof(struct fr_source *src)
{
    struct fr_record rec;
    bool eof = false;
    assert_int_equal(fr_source_next(src, &rec, &eof, NULL), 0);
    assert_true(eof);
    assert_null(rec.fields);
    /* and it stays at the end */
    assert_int_equal(fr_source_next(src, &rec, &eof, NULL), 0);
    assert_true(eof);
}

static void expect_field(const struct fr_record *rec, const char *name, const char *want)
{
    assert_null(rec->error);
    assert_non_null(rec->fields);
    json_t *v = json_object_get(rec->fields, name);
    assert_non_null(v);
    assert_true(json_is_string(v));
    assert_string_equal(json_string_value(v), want);
}

static void expect_row(struct fr_source *src, uint64_t line, const char *a, const char *b)
{
    struct fr_record rec;
    next(src, &rec);
    assert_int_equal(rec.line, line);
    expect_field(&rec, "id", a);
    expect_field(&rec, "amount", b);
    assert_int_equal(json_object_size(rec.fields), 2);
    fr_record_release(&rec);
}

static void test_basic(void **state)
{
    struct fr_source *src = open_text("id,amount\nA1,12.50\nA2,-3\n");
    expect_row(src, 2, "A1", "12.50");
    expect_row(src, 3, "A2", "-3");
    expect_eof(src);
    int64_t done = 0, total = 0;
    fr_source_progress(src, &done, &total);
    assert_int_equal(total, 25);
    assert_int_equal(done, 25);
    fr_source_close(src);
}

static void test_quoted(void **state)
{
    struct fr_source *src = open_text("id,amount\n"
                                      "\"A,1\",\"say \"\"hi\"\"\"\n"
                                      "\"A\n2\",\"two\nlines\nhere\"\n"
                                      "A3,\"\"\n"
                                      "\"\",x\n");
    expect_row(src, 2, "A,1", "say \"hi\"");
    expect_row(src, 3, "A\n2", "two\nlines\nhere");
    expect_row(src, 7, "A3", "");
    expect_row(src, 8, "", "x");
    expect_eof(src);
    fr_source_close(src);
}

static void test_crlf_bom_no_final_newline(void **state)
{
    struct fr_source *src = open_text("\xEF\xBB\xBFid,amount\r\nA1,1\r\n\"A\r\n2\",2\r\nA3,3");
    expect_row(src, 2, "A1", "1");
    expect_row(src, 3, "A\r\n2", "2");
    expect_row(src, 5, "A3", "3");
    expect_eof(src);
    int64_t done = 0, total = 0;
    fr_source_progress(src, &done, &total);
    assert_int_equal(done, total);
    fr_source_close(src);
}

static void test_ragged_and_empty_lines(void **state)
{
    struct fr_source *src = open_text("id,amount\n"
                                      "\n"
                                      "A1,1\n"
                                      "A2,2,extra,more\n"
                                      "  \n"
                                      "\r\n"
                                      "A3\n"
                                      "A4,4\n"
                                      "\n");
    expect_row(src, 3, "A1", "1");
    struct fr_record rec;
    next(src, &rec);
    assert_null(rec.fields);
    assert_non_null(rec.error);
    assert_string_equal(rec.error, "line 4: 4 fields, the header has 2");
    assert_int_equal(rec.line, 4);
    fr_record_release(&rec);
    next(src, &rec);
    assert_string_equal(rec.error, "line 7: 1 field, the header has 2");
    fr_record_release(&rec);
    expect_row(src, 8, "A4", "4");
    expect_eof(src);
    fr_source_close(src);
}

static void test_invalid_utf8(void **state)
{
    struct fr_source *src = open_text("id,amount\nA1,\xff\xfe\nA2,2\n");
    struct fr_record rec;
    next(src, &rec);
    assert_null(rec.fields);
    assert_string_equal(rec.error, "line 2: column \"amount\" is not valid UTF-8");
    fr_record_release(&rec);
    expect_row(src, 3, "A2", "2");
    expect_eof(src);
    fr_source_close(src);
}

static void expect_open_fails(const char *text, int code, const char *part)
{
    if (text)
        write_file(text, strlen(text));
    struct fr_source_conf conf = {.type = FR_SOURCE_CSV, .path = path};
    struct fr_source *src = (struct fr_source *)1;
    struct fr_err err = {0};
    assert_int_equal(fr_source_open(&conf, &src, &err), code);
    assert_null(src);
    if (!strstr(err.msg, part))
        print_error("%s\n", err.msg);
    assert_non_null(strstr(err.msg, part));
}

static void test_open_errors(void **state)
{
    expect_open_fails("id,amount,id\n1,2,3\n", FR_EPARSE, "column \"id\" twice");
    expect_open_fails("", FR_EPARSE, "no header row");
    expect_open_fails("\n\n", FR_EPARSE, "no header row");
    unlink(path);
    expect_open_fails(NULL, FR_EIO, path);
}

static void test_unclosed_quote(void **state)
{
    struct fr_source *src = open_text("id,amount\nA1,1\nA2,\"oops\n");
    expect_row(src, 2, "A1", "1");
    struct fr_record rec;
    bool eof = false;
    struct fr_err err = {0};
    assert_int_equal(fr_source_next(src, &rec, &eof, &err), FR_EPARSE);
    assert_non_null(strstr(err.msg, "not closed"));
    fr_source_close(src);
}

/* An unclosed quote early in a big file stops at the 16 MB cap, not at the end of memory. */
static void test_record_cap(void **state)
{
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("id,amount\nA1,1\nA2,\"oops\n", fp);
    char line[1024];
    memset(line, 'x', sizeof(line) - 1);
    line[sizeof(line) - 1] = '\n';
    for (int i = 0; i < 17 * 1024; i++)
        fwrite(line, 1, sizeof(line), fp);
    fclose(fp);
    struct fr_source_conf conf = {.type = FR_SOURCE_CSV, .path = path};
    struct fr_source *src = NULL;
    assert_int_equal(fr_source_open(&conf, &src, NULL), 0);
    expect_row(src, 2, "A1", "1");
    struct fr_record rec;
    bool eof = false;
    struct fr_err err = {0};
    assert_int_equal(fr_source_next(src, &rec, &eof, &err), FR_ETOOBIG);
    assert_non_null(strstr(err.msg, "larger than 16 MB"));
    assert_non_null(strstr(err.msg, path));
    /* and it stays failed */
    assert_int_equal(fr_source_next(src, &rec, &eof, NULL), FR_ETOOBIG);
    fr_source_close(src);
}

/* 200,000 rows in chunks: every row in order, and progress ends at the file size. */
static void test_large_file(void **state)
{
    enum { ROWS = 200000 };
    FILE *fp = fopen(path, "wb");
    assert_non_null(fp);
    fputs("id,amount,note\n", fp);
    for (int i = 0; i < ROWS; i++) {
        if (i % 1000 == 7)
            fprintf(fp, "R%d,%d.%02d,\"multi\nline, %d\"\n", i, i, i % 100, i);
        else
            fprintf(fp, "R%d,%d.%02d,plain %d\n", i, i, i % 100, i);
    }
    long size = ftell(fp);
    fclose(fp);

    struct fr_source_conf conf = {.type = FR_SOURCE_CSV, .path = path};
    struct fr_source *src = NULL;
    assert_int_equal(fr_source_open(&conf, &src, NULL), 0);
    /* heap in use once open (0 under sanitizers, which replace malloc) */
    size_t heap_open = mallinfo2().uordblks;
    uint64_t line = 2;
    char want[64];
    int64_t end = (int64_t)strlen("id,amount,note\n");
    for (int i = 0; i < ROWS; i++) {
        struct fr_record rec;
        next(src, &rec);
        assert_int_equal(rec.line, line);
        snprintf(want, sizeof(want), "R%d", i);
        expect_field(&rec, "id", want);
        snprintf(want, sizeof(want), "%d.%02d", i, i % 100);
        expect_field(&rec, "amount", want);
        char text[128];
        if (i % 1000 == 7) {
            snprintf(want, sizeof(want), "multi\nline, %d", i);
            snprintf(text, sizeof(text), "R%d,%d.%02d,\"multi\nline, %d\"\n", i, i, i % 100, i);
            line += 2;
        } else {
            snprintf(want, sizeof(want), "plain %d", i);
            snprintf(text, sizeof(text), "R%d,%d.%02d,plain %d\n", i, i, i % 100, i);
            line += 1;
        }
        end += (int64_t)strlen(text);
        expect_field(&rec, "note", want);
        fr_record_release(&rec);
        int64_t done, total;
        fr_source_progress(src, &done, &total);
        assert_int_equal(total, size);
        /* streamed: the parser has read exactly up to the end of this record */
        assert_int_equal(done, end);
        if (i % 50000 == 49999) {
            size_t heap = mallinfo2().uordblks;
            assert_true(heap < heap_open + 256 * 1024);
        }
    }
    expect_eof(src);
    int64_t done, total;
    fr_source_progress(src, &done, &total);
    assert_int_equal(done, size);
    fr_source_close(src);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_basic, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quoted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crlf_bom_no_final_newline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ragged_and_empty_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unclosed_quote, setup, teardown),
        cmocka_unit_test_setup_teardown(test_record_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_large_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

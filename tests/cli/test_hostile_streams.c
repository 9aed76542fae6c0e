/* Hostile streams: inputs that never end or that promise more than they hold. /dev/zero as a CSV, a model, a
 * picture, a log and stdin; gzip bombs (one endless line, and endless valid rows); pipes that send a valid
 * header and then too much, or a header promising terabytes. Each must end in one error line and exit 1,
 * never in the OOM killer, a hang or a crash. The release build runs them under RLIMIT_AS (1 GiB); the
 * sanitizer build, where ASan reserves terabytes of address space at start, under ASan's own allocator
 * limits instead. */
#define _GNU_SOURCE /* mkdtemp */
#include "cli_run.h"
#include "data_write.h"

#include <signal.h>
#include <sys/resource.h>
#include <zlib.h>

#ifndef BN_SANITIZED
#error "BN_SANITIZED must say whether this is a sanitizer build (tests/meson.build passes it)"
#endif

static char small_csv[400], model[400], ck_out[400];

/* args end in exit 1 with one error line that names `named`, and no test line; stdin from stdin_path. */
/* ASan's own line when its allocator limit refuses an allocation (which blasnet then reports), dropped. */
static void drop_asan_warnings(char *text)
{
    for (char *p; (p = strstr(text, "==")) && strstr(p, "WARNING: AddressSanitizer failed to allocate");) {
        char *nl = strchr(p, '\n');
        memmove(p, nl ? nl + 1 : p + strlen(p), strlen(nl ? nl + 1 : p + strlen(p)) + 1);
    }
}

static void refused_in(const char *what, const char *named, const char *stdin_path, const char *const *args)
{
    char line[1024];
    cli_result r = run_argv_in(args, stdin_path);
    if (BN_SANITIZED)
        drop_asan_warnings(r.err);
    no_crash(what, &r);
    int lines = error_lines(r.err, line, sizeof line);
    CHECKF(r.code == 1, "%s: exit %d, want 1; stderr: %s", what, r.code, r.err);
    CHECKF(lines == 1, "%s: %d error lines, want 1: %s", what, lines, r.err);
    CHECKF(strstr(line, named) != NULL, "%s: the error line does not name '%s': %s", what, named, line);
    CHECKF(!strstr(r.out, "test:"), "%s: printed a test line", what);
    result_free(&r);
}

#define REFUSED(what, named, ...) refused_in(what, named, "/dev/null", (const char *const[]){__VA_ARGS__, NULL})
#define REFUSED_IN(what, named, in, ...) refused_in(what, named, in, (const char *const[]){__VA_ARGS__, NULL})

/* A FIFO fed by a child process: `head` bytes, then the body_len bytes of `body` repeated until the reader
 * goes away or `limit` bytes of it are sent (0: no limit). The caller reaps it with fifo_done. */
typedef struct {
    char path[400];
    pid_t writer;
} fifo;

static fifo fifo_start(const char *name, const void *head, size_t head_len, const char *body, size_t body_len,
                       uint64_t limit)
{
    fifo f;
    snprintf(f.path, sizeof f.path, "%s/%s", root, name);
    unlink(f.path);
    CHECKF(mkfifo(f.path, 0600) == 0, "mkfifo %s: %s", f.path, strerror(errno));
    fflush(NULL);
    f.writer = fork();
    if (f.writer == 0) {
        signal(SIGPIPE, SIG_IGN); /* a reader that stops early is the point: EPIPE ends the writer */
        int fd = open(f.path, O_WRONLY);
        char block[1 << 16];
        size_t fill = sizeof block / body_len * body_len;
        for (size_t i = 0; i < fill; i++)
            block[i] = body[i % body_len];
        if (fd < 0 || (head_len && write(fd, head, head_len) != (ssize_t)head_len))
            _exit(0);
        for (uint64_t sent = 0; !limit || sent < limit;) {
            size_t n = limit && limit - sent < fill ? (size_t)(limit - sent) : fill;
            if (write(fd, block, n) <= 0)
                break;
            sent += n;
        }
        _exit(0);
    }
    return f;
}

static void fifo_done(fifo *f)
{
    if (f->writer > 0) {
        kill(f->writer, SIGKILL);
        waitpid(f->writer, NULL, 0);
    }
    unlink(f->path);
}

/* A gzip file of `lines` copies of `line`, written as it is compressed. */
static void gzip_repeat(const char *path, const char *line, uint64_t bytes)
{
    gzFile g = gzopen(path, "wb9");
    CHECK(g != NULL);
    char block[1 << 16];
    size_t len = strlen(line), fill = sizeof block / len * len;
    for (size_t i = 0; i < fill; i++)
        block[i] = line[i % len];
    bool written = true;
    for (uint64_t done = 0; g && done < bytes; done += fill)
        written &= gzwrite(g, block, (unsigned)fill) == (int)fill;
    CHECK(written);
    if (g)
        CHECK(gzclose(g) == Z_OK);
}

static void setup(void)
{
    snprintf(small_csv, sizeof small_csv, "%s/small_test.csv", root);
    CHECK(dw_write_text(small_csv, "label,a,b,c,d\n0,1,2,3,4\n1,4,3,2,1\n") == 0);
    char data[300];
    make_dir(data, sizeof data, "data");
    CHECK(idxw_write_synth_pair(data, "train", 200, 28, 28, 10, 1) == 0);
    CHECK(idxw_write_synth_pair(data, "t10k", 50, 28, 28, 10, 2) == 0);
    snprintf(model, sizeof model, "%s/m.bin", root);
    snprintf(ck_out, sizeof ck_out, "%s/out.ck", root);
    cli_result r = RUN("train", "--data", data, "--epochs", "1", "--hidden", "8", "--quiet", "--threads", "1",
                       "--save", model);
    CHECKF(r.code == 0, "setup train: exit %d: %s", r.code, r.err);
    result_free(&r);
}

/* /dev/zero wherever a file is read: refused at its first bytes or at the first cap, never read to its end. */
static void dev_zero_everywhere(void)
{
    REFUSED("--train-csv /dev/zero", "/dev/zero", "train", "--train-csv", "/dev/zero", "--test-csv", small_csv);
    REFUSED("--train-images /dev/zero", "/dev/zero", "train", "--train-images", "/dev/zero", "--train-labels",
            "/dev/zero", "--test-csv", small_csv);
    REFUSED("eval --model /dev/zero", "/dev/zero", "eval", "--model", "/dev/zero", "--test-csv", small_csv);
    REFUSED("train --resume /dev/zero", "/dev/zero", "train", "--resume", "/dev/zero", "--checkpoint", ck_out,
            "--train-csv", small_csv, "--test-csv", small_csv);
    REFUSED("predict on /dev/zero", "/dev/zero", "predict", "--model", model, "/dev/zero");
    REFUSED("plot /dev/zero", "/dev/zero", "plot", "/dev/zero", "-o", "/tmp/never-written.png");
    REFUSED_IN("predict - </dev/zero", "stdin", "/dev/zero", "predict", "--model", model, "-");
}

/* The bomb: 128 MiB of one line, gzip'd to a few hundred KiB; and rows that are all valid but far
 * more than 64 times the compressed size. */
static void gzip_bombs(void)
{
    char line_bomb[400], rows_bomb[400];
    snprintf(line_bomb, sizeof line_bomb, "%s/bomb_train.csv.gz", root);
    gzip_repeat(line_bomb, "0", (uint64_t)128 << 20);
    REFUSED("data info on a one-line gzip bomb", "longer than", "data", "info", line_bomb);
    snprintf(rows_bomb, sizeof rows_bomb, "%s/rows_train.csv.gz", root);
    gzip_repeat(rows_bomb, "1,0,0,0,0\n", (uint64_t)100 << 20);
    REFUSED("train on a gzip'd CSV of endless rows", "64 times", "train", "--train-csv", rows_bomb, "--test-csv",
            small_csv);
}

/* Pipes: a model whose header is valid and then never ends; a header that declares a network of 2^48
 * parameters; IDX images that promise more than a pipe may give; rows without end. */
static void pipes(void)
{
    size_t size = 0;
    uint8_t *bytes = idxw_read_all(model, &size);
    CHECK(bytes != NULL);
    fifo f = fifo_start("endless.ck", bytes, size, "\x01", 1, 0);
    REFUSED("train --resume on a pipe that never ends", "more than", "train", "--resume", f.path, "--checkpoint",
            ck_out, "--train-csv", small_csv, "--test-csv", small_csv);
    fifo_done(&f);
    uint8_t huge[36] = "BLASNET";
    uint32_t fields[7] = {2, 0x01020304u, 2, 1u << 24, 1u << 24, 10, 0};
    memcpy(huge + 8, fields, sizeof fields); /* little-endian, as the format is: these machines are */
    f = fifo_start("huge.ck", huge, sizeof huge, "\x00", 1, 0);
    REFUSED("eval --model declaring 2^48 parameters", "more than blasnet reads", "eval", "--model", f.path,
            "--test-csv", small_csv);
    fifo_done(&f);
    uint8_t idx[16] = {0, 0, 8, 3, 0x40, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28};
    f = fifo_start("images.idx", idx, sizeof idx, "\x00", 1, 0);
    REFUSED("IDX images from a pipe promising 2^30 images", "pipe", "data", "info", "--train-images", f.path,
            "--train-labels", small_csv);
    fifo_done(&f);
    f = fifo_start("rows.csv", "label,a,b,c,d\n", 14, "1,0,0,0,0\n", 10, 0);
    REFUSED("a CSV pipe of rows without end", f.path, "train", "--train-csv", f.path, "--test-csv", small_csv);
    fifo_done(&f);
    free(bytes);
}

/* predict - reads a batch at a time: 1,400,000 images (1.1 GB, more than the address-space limit) from a pipe
 * are all answered, and a stream that ends early is refused after the images it held. */
static void predict_streams(void)
{
    uint8_t idx[16] = {0, 0, 8, 3, 0, 0x15, 0x5C, 0xC0, 0, 0, 0, 28, 0, 0, 0, 28}; /* 1400000 = 0x155CC0 */
    fifo f = fifo_start("many.idx", idx, sizeof idx, "\x00", 1, (uint64_t)1400000 * 784);
    cli_result r = run_argv_in((const char *const[]){"predict", "--model", model, "--top", "1", "-", NULL}, f.path);
    no_crash("predict - on 1400000 images", &r);
    CHECKF(r.code == 0, "predict - on 1400000 images: exit %d: %s", r.code, r.err);
    CHECKF(lines_with(r.out, "-[") == 1400000, "%d answers, want 1400000", lines_with(r.out, "-["));
    result_free(&r);
    fifo_done(&f);
    f = fifo_start("short.idx", idx, sizeof idx, "\x00", 1, (uint64_t)1000 * 784);
    r = run_argv_in((const char *const[]){"predict", "--model", model, "-", NULL}, f.path);
    CHECKF(r.code == 1 && strstr(r.err, "ends after 1000 of the 1400000"), "short stream: exit %d: %s", r.code, r.err);
    CHECKF(lines_with(r.out, "-[") == 1000, "%d answers before the end, want 1000", lines_with(r.out, "-["));
    result_free(&r);
    fifo_done(&f);
}

int main(void)
{
    if (!bn_test_tmpdir(root, sizeof root, "hostile-streams"))
        return EXIT_FAILURE;
    bn_test_case("setup", setup);
    if (BN_SANITIZED) { /* ASan maps terabytes of shadow at start: no RLIMIT_AS, its allocator's own limit */
        setenv("ASAN_OPTIONS", "allocator_may_return_null=1:max_allocation_size_mb=128:hard_rss_limit_mb=1536", 1);
    } else {
        /* 1 GiB: blasnet itself maps about 450 MiB (libraries, thread stacks) and OpenBLAS's buffer 128 MiB more,
         * which OpenBLAS retries forever when the mapping fails; each case here would take more than 1 GiB
         * without its cap. */
        struct rlimit cap = {(rlim_t)1 << 30, (rlim_t)1 << 30};
        CHECKF(setrlimit(RLIMIT_AS, &cap) == 0, "setrlimit: %s", strerror(errno));
    }
    bn_test_case("/dev/zero wherever a file is read", dev_zero_everywhere);
    bn_test_case("gzip bombs", gzip_bombs);
    bn_test_case("pipes that promise more, or never end", pipes);
    bn_test_case("predict streams stdin a batch at a time", predict_streams);
    bn_test_remove_tree(root);
    return bn_test_exit("hostile_streams");
}

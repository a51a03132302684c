/* tests/test_chat_cli.c — `kiln chat` as a person uses it: through a
 * pseudo-terminal (forkpty), typing lines, reading the streamed replies,
 * pressing Ctrl-C in the middle of one, leaving with /exit or Ctrl-D.
 *
 * Models: stories260K (a GGUF with a vocabulary but no chat template, so the
 * template is forced) always; SmolLM2-135M-Instruct when it has been fetched
 * (`make models`), skipped with the reason otherwise. */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "kiln/kiln.h"
#include "tests/test_runtime_util.h"

#define KILN KILN_BINARY_DIR "/bin/kiln"
#define STORIES KILN_SOURCE_DIR "/../shared/models/stories260K-f32.gguf"

typedef struct tty_proc {
    pid_t pid;
    int fd;          /* the terminal's master side */
    char out[65536]; /* everything the program wrote to the terminal */
    size_t n;
    char err_path[64];
} tty_proc;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Starts argv on a new terminal; its stderr goes to a file (err_path). */
static void tty_start(tty_proc *p, char *const argv[])
{
    memset(p, 0, sizeof *p);
    strcpy(p->err_path, "/tmp/kiln-chat-test-XXXXXX");
    int err = mkstemp(p->err_path);
    cr_assert_geq(err, 0);
    struct termios tio;
    memset(&tio, 0, sizeof tio); /* every flag chosen here, none left to the stack */
    cfmakeraw(&tio);
    tio.c_lflag |= ICANON | ISIG | ECHO; /* a line-editing terminal that sends SIGINT on ^C, like a shell's */
    tio.c_iflag |= ICRNL;
    tio.c_oflag |= OPOST | ONLCR;
    tio.c_cc[VINTR] = 3, tio.c_cc[VEOF] = 4, tio.c_cc[VMIN] = 1, tio.c_cc[VTIME] = 0;
    cfsetispeed(&tio, B38400), cfsetospeed(&tio, B38400);
    p->pid = forkpty(&p->fd, NULL, &tio, NULL);
    cr_assert_geq(p->pid, 0, "forkpty: %s", strerror(errno));
    if (p->pid == 0) {
        dup2(err, 2);
        execv(argv[0], argv);
        _exit(127);
    }
    close(err);
}

/* Reads until the output (from byte `from`) contains want, or timeout_s
 * passes. Returns whether it came. */
static int tty_wait_for(tty_proc *p, size_t from, const char *want, double timeout_s)
{
    double end = now() + timeout_s;
    for (;;) {
        p->out[p->n] = 0;
        if (strstr(p->out + from, want)) return 1;
        double left = end - now();
        if (left <= 0 || p->n + 1 >= sizeof p->out) return 0;
        struct pollfd pfd = {p->fd, POLLIN, 0};
        if (poll(&pfd, 1, (int)(left * 1000) + 1) <= 0) continue;
        ssize_t k = read(p->fd, p->out + p->n, sizeof p->out - 1 - p->n);
        if (k <= 0) return 0; /* the program is gone */
        p->n += (size_t)k;
    }
}

static void tty_type(tty_proc *p, const char *s) { cr_assert_eq(write(p->fd, s, strlen(s)), (ssize_t)strlen(s)); }

/* Waits for the program to end; returns its exit status (-1: killed after timeout). */
static int tty_finish(tty_proc *p, double timeout_s)
{
    double end = now() + timeout_s;
    int st;
    while (waitpid(p->pid, &st, WNOHANG) == 0) {
        if (now() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &st, 0);
            return -1;
        }
        char drain[4096];
        struct pollfd pfd = {p->fd, POLLIN, 0};
        if (poll(&pfd, 1, 50) > 0 && read(p->fd, drain, sizeof drain) <= 0) usleep(10000);
    }
    close(p->fd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char *slurp(const char *path)
{
    static char buf[65536];
    FILE *f = fopen(path, "r");
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) fclose(f);
    buf[n] = 0;
    return buf;
}

/* The reply after the n-th prompt: the text between "> <typed line>\r\n" and the next "> ". */
static void reply_after(const tty_proc *p, const char *typed, char *reply, size_t cap)
{
    char marker[256];
    snprintf(marker, sizeof marker, "%s\r\n", typed);
    const char *a = strstr(p->out, marker);
    cr_assert_not_null(a, "no echo of '%s' in: %s", typed, p->out);
    a += strlen(marker);
    const char *b = strstr(a, "\r\n> ");
    cr_assert_not_null(b, "no prompt after the reply to '%s'", typed);
    size_t n = (size_t)(b - a) < cap - 1 ? (size_t)(b - a) : cap - 1;
    memcpy(reply, a, n);
    reply[n] = 0;
}

static void need_cpu_and(const char *path)
{
    if (access(path, R_OK) != 0) cr_skip_test("%s is absent", path);
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
}

/* Two turns: the first reply is what `kiln run` generates from the same
 * rendered prompt (greedy), and the second turn prefills only its new text. */
Test(chat_cli, turns_reuse_the_cache_and_match_kiln_run, .timeout = 120)
{
    need_cpu_and(STORIES);
    tty_proc *p = malloc(sizeof *p);
    char *argv[] = {KILN, "chat", "-m", STORIES, "--chat-template", "chatml", "-n", "12", "--temp", "0", "-v", NULL};
    tty_start(p, argv);
    cr_assert(tty_wait_for(p, 0, "> ", 60), "no prompt: %s", p->out);
    tty_type(p, "Hello\n");
    cr_assert(tty_wait_for(p, 0, "\r\n> ", 60), "no reply: %s", p->out);
    size_t mark = p->n;
    tty_type(p, "Tell me more\n");
    cr_assert(tty_wait_for(p, mark, "\r\n> ", 60), "no second reply: %s", p->out);
    tty_type(p, "/exit\n");
    cr_assert_eq(tty_finish(p, 30), 0);

    char first[4096];
    reply_after(p, "Hello", first, sizeof first);
    /* kiln run prints the prompt, then the generation (its newlines raw: no terminal here). */
    const char *prompt = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n";
    char cmd[1024], ran[8192];
    snprintf(cmd, sizeof cmd, KILN " run -m " STORIES " -n 12 --temp 0 -p '%s' 2>/dev/null", prompt);
    FILE *f = popen(cmd, "r");
    size_t n = fread(ran, 1, sizeof ran - 1, f);
    ran[n] = 0;
    cr_assert_eq(pclose(f), 0);
    cr_assert_eq(strncmp(ran, prompt, strlen(prompt)), 0);
    char want[4096], *w = want;
    for (const char *r = ran + strlen(prompt); *r; r++) { /* as the terminal shows it */
        if (*r == '\n') *w++ = '\r';
        *w++ = *r;
    }
    *w = 0;
    while (w > want && (w[-1] == '\n' || w[-1] == '\r')) *--w = 0;
    cr_expect_str_eq(first, want);

    /* Turn 1 prefilled the whole rendering; turn 2 only "<|im_end|>\n<|im_start|>user\n...". */
    const char *err = slurp(p->err_path);
    int new1, held1, new2, held2;
    const char *t1 = strstr(err, "[kiln chat:");
    cr_assert_not_null(t1, "%s", err);
    cr_assert_eq(sscanf(t1, "[kiln chat: %d new tokens prefilled, %d in the cache]", &new1, &held1), 2, "%s", err);
    const char *t2 = strstr(t1 + 1, "[kiln chat:");
    cr_assert_not_null(t2, "%s", err);
    cr_assert_eq(sscanf(t2, "[kiln chat: %d new tokens prefilled, %d in the cache]", &new2, &held2), 2, "%s", err);
    cr_expect_eq(new1, held1);
    /* the cache kept turn 1 and the 11 reply tokens fed back (the 12th ended the reply) */
    cr_expect_eq(held2, held1 + 11 + new2, "turn 2 prefilled %d tokens, the cache holds %d (turn 1: %d)", new2, held2, held1);
    unlink(p->err_path);
    free(p);
}

/* Ctrl-C stops a long reply and the conversation goes on; Ctrl-D leaves. */
Test(chat_cli, ctrl_c_stops_a_reply_without_leaving, .timeout = 120)
{
    need_cpu_and(STORIES);
    tty_proc *p = malloc(sizeof *p);
    /* stories260K with a large context runs for thousands of tokens without an EOS */
    char *argv[] = {KILN, "chat", "-m", STORIES, "--chat-template", "zephyr", "-n", "100000", "--ctx", "8192",
                    "--temp", "0", NULL};
    tty_start(p, argv);
    cr_assert(tty_wait_for(p, 0, "> ", 60), "no prompt: %s", p->out);
    tty_type(p, "Once upon a time\n");
    size_t mark = p->n;
    /* wait for the reply to start streaming, then interrupt it */
    double t0 = now();
    while (p->n < mark + 60 && now() - t0 < 60) tty_wait_for(p, p->n, "\x01", 0.2);
    cr_assert_gt(p->n, mark + 20, "the reply does not stream: %s", p->out);
    tty_type(p, "\x03");
    cr_assert(tty_wait_for(p, mark, "[stopped]\r\n> ", 30), "Ctrl-C did not stop the reply: %s", p->out + mark);
    mark = p->n;
    tty_type(p, "\x03"); /* at the prompt: a reminder, not an exit */
    cr_assert(tty_wait_for(p, mark, "Ctrl-D leaves", 30), "%s", p->out + mark);
    tty_type(p, "\x04");
    cr_assert_eq(tty_finish(p, 30), 0, "%s", p->out);
    unlink(p->err_path);
    free(p);
}

/* The real instruct model, its own (detected) ChatML template. */
Test(chat_cli, smollm2_answers_in_its_template, .timeout = 180)
{
    const char *model = kt_smollm2_path();
    if (!model) cr_skip_test("SmolLM2-135M-Instruct.Q4_1.gguf is not fetched (make models; or KILN_MODELS_DIR=DIR)");
    need_cpu_and(model);
    tty_proc *p = malloc(sizeof *p);
    char *argv[] = {KILN, "chat", "-m", (char *)model, "--system", "You are a helpful assistant.", "-n", "24", "--temp",
                    "0", NULL};
    tty_start(p, argv);
    cr_assert(tty_wait_for(p, 0, "> ", 120), "no prompt: %s", p->out);
    tty_type(p, "What is the capital of France?\n");
    cr_assert(tty_wait_for(p, 0, "\r\n> ", 120), "no reply: %s", p->out);
    tty_type(p, "/exit\n");
    cr_assert_eq(tty_finish(p, 30), 0);
    char reply[4096];
    reply_after(p, "What is the capital of France?", reply, sizeof reply);
    cr_expect_not_null(strstr(reply, "Paris"), "reply: %s", reply);
    const char *err = slurp(p->err_path);
    cr_expect_not_null(strstr(err, "template chatml"), "%s", err);
    unlink(p->err_path);
    free(p);
}

Test(chat_cli, reports_bad_flags_and_models, .timeout = 60)
{
    struct { const char *args; int rc; } cases[] = {
        {"chat --help >/dev/null", 0},
        {"chat 2>/dev/null", 2},
        {"chat -m x --chat-template nosuch 2>/dev/null", 2},
        {"chat -m x -n 0 2>/dev/null", 2},
        {"chat -m x --temp hot 2>/dev/null", 2},
        {"chat -m /nonexistent.gguf </dev/null 2>/dev/null", 1},
        {"chat -m synthetic:tiny-f32 </dev/null 2>/dev/null", 1},       /* no vocabulary */
        {"chat -m " STORIES " </dev/null 2>/dev/null", 1},              /* no chat template */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, KILN " %s", cases[i].args);
        int st = system(cmd);
        cr_expect_eq(WIFEXITED(st) ? WEXITSTATUS(st) : -1, cases[i].rc, "%s", cmd);
    }
    /* the error names the way out */
    FILE *f = popen(KILN " chat -m " STORIES " </dev/null 2>&1", "r");
    char out[4096];
    size_t n = fread(out, 1, sizeof out - 1, f);
    out[n] = 0;
    pclose(f);
    cr_expect_not_null(strstr(out, "--chat-template"), "%s", out);
}

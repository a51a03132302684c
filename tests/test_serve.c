/* tests/test_serve.c — `kiln serve` on loopback, driven by the Python
 * scripts in tests/serve/ (the official openai client, raw sockets), with the
 * build's venv (make deps installs openai into it; without it these tests
 * skip, saying so).
 *
 * Each test starts the server on a free port (--port 0; the port is read from
 * its "listening on" line), runs a script against it, then sends SIGINT and
 * expects a clean exit 0 within a bound. */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kiln/kiln.h"
#include "tests/test_runtime_util.h"

#define KILN KILN_BINARY_DIR "/bin/kiln"
#define PYTHON KILN_BINARY_DIR "/venv/bin/python"
#define SCRIPTS KILN_SOURCE_DIR "/tests/serve/"
#define STORIES KILN_SOURCE_DIR "/../shared/models/stories260K-f32.gguf"

typedef struct server {
    pid_t pid;
    int port;
    char log[64];
} server;

static void need_python_openai(void)
{
    if (access(PYTHON, X_OK) != 0) cr_skip_test("%s is absent (make deps makes it)", PYTHON);
    if (system(PYTHON " -c 'import openai' >/dev/null 2>&1") != 0)
        cr_skip_test("the venv has no openai package (make deps installs it; offline?)");
    if (!kiln_backend_available(KILN_BACKEND_CPU)) cr_skip_test("the cpu backend is not available: %s", kiln_last_error());
}

/* Starts kiln serve with extra args (a NULL-terminated list); waits for its port. */
static void server_start(server *sv, const char *model, const char *const *extra)
{
    memset(sv, 0, sizeof *sv);
    strcpy(sv->log, "/tmp/kiln-serve-test-XXXXXX");
    int fd = mkstemp(sv->log);
    cr_assert_geq(fd, 0);
    /* f32 KV cache, as the scripts' `kiln run --kv-type f32`: kiln run's
     * prompt attends over fresh f32 K/V (flash attention), the server's (with
     * prefix caching) over the cache, so only an f32 cache makes their greedy
     * texts comparable. Cached or not, the server's own output is identical
     * at any KV type (tests/test_prefix_cache.c). */
    const char *argv[32] = {KILN, "serve", "-m", model, "--port", "0", "--kv-type", "f32"};
    int n = 8;
    for (int i = 0; extra && extra[i] && n < 31; i++) argv[n++] = extra[i];
    argv[n] = NULL;
    sv->pid = fork();
    cr_assert_geq(sv->pid, 0);
    if (sv->pid == 0) {
        dup2(fd, 2);
        execv(KILN, (char *const *)argv);
        _exit(127);
    }
    close(fd);
    for (int tries = 0; tries < 600 && !sv->port; tries++) { /* up to 60 s on a busy machine */
        usleep(100000);
        FILE *f = fopen(sv->log, "r");
        char line[512];
        while (f && fgets(line, sizeof line, f)) {
            const char *at = strstr(line, "listening on http://127.0.0.1:");
            if (at) sv->port = atoi(at + strlen("listening on http://127.0.0.1:"));
        }
        if (f) fclose(f);
        int st;
        if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) cr_assert_fail("kiln serve exited at start; see %s", sv->log);
    }
    cr_assert_gt(sv->port, 0, "kiln serve did not start listening; see %s", sv->log);
}

/* SIGINT; expects exit 0 within 15 s. */
static void server_stop(server *sv)
{
    kill(sv->pid, SIGINT);
    int st = 0;
    for (int i = 0; i < 150; i++) {
        if (waitpid(sv->pid, &st, WNOHANG) == sv->pid) {
            int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0;
            cr_expect(ok, "kiln serve exits 0 on SIGINT (status %d); see %s", st, sv->log);
            if (ok) unlink(sv->log);
            return;
        }
        usleep(100000);
    }
    kill(sv->pid, SIGKILL);
    waitpid(sv->pid, &st, 0);
    cr_assert_fail("kiln serve did not stop within 15 s of SIGINT; see %s", sv->log);
}

static void run_script(const server *sv, const char *script, const char *model, const char *key)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd " SCRIPTS " && " PYTHON " %s --base http://127.0.0.1:%d --kiln " KILN " --model %s --api-key %s 2>&1",
             script, sv->port, model, key);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char out[8192];
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = 0;
    int st = pclose(p);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s failed:\n%s", script, out);
    if (n) cr_log_info("%s", out);
}

Test(serve, openai_client_chat_and_completions, .timeout = 240)
{
    need_python_openai();
    server sv;
    server_start(&sv, STORIES, (const char *const[]){"--chat-template", "chatml", "--parallel", "2", NULL});
    run_script(&sv, "test_openai_client.py", STORIES, "none");
    server_stop(&sv);
}

Test(serve, sixteen_clients_each_as_alone, .timeout = 240)
{
    need_python_openai();
    server sv;
    server_start(&sv, STORIES, (const char *const[]){"--parallel", "8", NULL});
    run_script(&sv, "test_concurrency.py", STORIES, "none");
    server_stop(&sv);
}

/* Speculative decoding by prompt lookup (tests/test_speculative.c has the
 * runtime's side): requests of one batch propose different lengths; greedy
 * text equals kiln run's (plain decoding), together equals alone. */
Test(serve, prompt_lookup_gives_kiln_runs_text, .timeout = 240)
{
    need_python_openai();
    server sv;
    server_start(&sv, STORIES, (const char *const[]){"--chat-template", "chatml", "--parallel", "2", "--lookup", "2", NULL});
    run_script(&sv, "test_openai_client.py", STORIES, "none");
    server_stop(&sv);
}

Test(serve, prompt_lookup_sixteen_clients_each_as_alone, .timeout = 240)
{
    need_python_openai();
    server sv;
    server_start(&sv, STORIES, (const char *const[]){"--parallel", "8", "--lookup", "3", "--draft-max", "4", NULL});
    run_script(&sv, "test_concurrency.py", STORIES, "none");
    server_stop(&sv);
}

Test(serve, hostile_clients_are_refused_cleanly, .timeout = 240)
{
    need_python_openai();
    server sv;
    server_start(&sv, STORIES,
                 (const char *const[]){"--api-key", "sekrit", "--max-body", "65536", "--timeout", "2", NULL});
    run_script(&sv, "test_hostile.py", STORIES, "sekrit");
    server_stop(&sv);
}

/* The real instruct model, when fetched: its own (detected) chat template. */
Test(serve, smollm2_chat, .timeout = 240)
{
    const char *model = kt_smollm2_path();
    if (!model) cr_skip_test("SmolLM2-135M-Instruct.Q4_1.gguf is not fetched (make models; or KILN_MODELS_DIR=DIR)");
    need_python_openai();
    server sv;
    server_start(&sv, model, (const char *const[]){"--parallel", "2", "--ctx", "1024", NULL});
    run_script(&sv, "test_smollm2_chat.py", model, "none");
    server_stop(&sv);
}

/* SIGINT in the middle of a long stream: the stream still ends with
 * [DONE], the server exits 0 within the bound. */
Test(serve, sigint_ends_streams_and_exits_0, .timeout = 120)
{
    need_python_openai();
    server sv;
    server_start(&sv, STORIES, (const char *const[]){"--ctx", "4096", NULL});
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "cd " SCRIPTS " && " PYTHON " stream_until_done.py --base http://127.0.0.1:%d --kiln " KILN
             " --model " STORIES " 2>&1", sv.port);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    char line[512] = "";
    cr_assert_not_null(fgets(line, sizeof line, p), "the stream did not start");
    cr_assert_str_eq(line, "streaming\n");
    server_stop(&sv);
    char last[512] = "";
    while (fgets(line, sizeof line, p)) snprintf(last, sizeof last, "%s", line);
    int st = pclose(p);
    cr_expect(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the stream did not end with [DONE]: %s", last);
}

Test(serve, reports_bad_flags, .timeout = 60)
{
    struct { const char *args; int rc; } cases[] = {
        {"serve --help >/dev/null", 0},
        {"serve 2>/dev/null", 2},
        {"serve -m x --port 70000 2>/dev/null", 2},
        {"serve -m x --parallel 0 2>/dev/null", 2},
        {"serve -m x --bogus 2>/dev/null", 2},
        {"serve -m /nonexistent.gguf --port 0 2>/dev/null", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, KILN " %s", cases[i].args);
        int st = system(cmd);
        cr_expect_eq(WIFEXITED(st) ? WEXITSTATUS(st) : -1, cases[i].rc, "%s", cmd);
    }
}

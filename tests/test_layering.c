/* tests/test_layering.c — dependencies point one way.
 *
 *   include <- formats <- gen <- kernels <- autotune, runtime <- demo, bench
 *
 * Every #include "folder/..." line of the source tree (read from the folders
 * themselves, so a new file is checked the day it is added) is held against
 * that order: a file may include its own layer and the layers below, never one
 * above; folders of one layer may include each other but not in a cycle; and
 * kernels/core/backend.h (the backends' private contract) is included only
 * from kernels/ and autotune/ (the tuner drives a backend's run and
 * precompile directly). tests/ may include anything and is not read. */
#include <criterion/criterion.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Longest prefix first, should one folder ever hold another layer. */
static const struct layer {
    const char *prefix;
    int rank;
} layers[] = {
    {"include/", 0},
    {"formats/", 1},
    {"gen/", 2},
    {"kernels/", 3},
    {"autotune/", 4},
    {"runtime/", 4},
    {"demo/", 5},
    {"bench/", 5},
    {"examples/", 5},
    /* tools/: kiln-gen, the generator's command line: its --sass compiles
     * through the CUDA backend's NVRTC, so it stands above kernels/, like demo/ */
    {"tools/", 5},
};
#define N_LAYERS (sizeof layers / sizeof layers[0])

/* The layer of a path in the tree, or of an include ("kiln/x.h" is include/kiln/x.h). */
static int layer_of(const char *path)
{
    char full[1100];
    snprintf(full, sizeof full, "%s%.1000s", strncmp(path, "kiln/", 5) ? "" : "include/", path);
    for (size_t i = 0; i < N_LAYERS; i++)
        if (!strncmp(full, layers[i].prefix, strlen(layers[i].prefix))) return (int)i;
    return -1;
}

typedef struct scan {
    char problems[16384];
    size_t len;
    int files, includes;
    int edge[N_LAYERS][N_LAYERS]; /* folder i includes folder j */
    char edge_example[N_LAYERS][N_LAYERS][256];
} scan;

static void problem(scan *s, const char *text)
{
    size_t n = strlen(text);
    if (s->len + n + 1 >= sizeof s->problems) return;
    memcpy(s->problems + s->len, text, n + 1);
    s->len += n;
}

static int is_source(const char *name)
{
    static const char *const ext[] = {".c", ".h", ".cu", ".cuh", ".cpp", ".cc", ".hpp", ".comp", ".glsl"};
    const char *dot = strrchr(name, '.');
    if (!dot) return 0;
    for (size_t i = 0; i < sizeof ext / sizeof ext[0]; i++)
        if (!strcmp(dot, ext[i])) return 1;
    return 0;
}

static void scan_file(scan *s, const char *root, const char *rel)
{
    int from = layer_of(rel);
    if (from < 0) return;
    char path[2048], line[1024];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "cannot read %s", path);
    s->files++;
    for (int no = 1; fgets(line, sizeof line, f); no++) {
        const char *p = line;
        while (*p == ' ' || *p == '\t') p++;
        if (*p++ != '#') continue;
        while (*p == ' ' || *p == '\t') p++;
        if (strncmp(p, "include", 7)) continue;
        p += 7;
        while (*p == ' ' || *p == '\t') p++;
        if (*p++ != '"') continue;
        char inc[512];
        size_t n = strcspn(p, "\"");
        if (n >= sizeof inc) continue;
        memcpy(inc, p, n);
        inc[n] = '\0';
        int to = layer_of(inc);
        if (to < 0) continue; /* relative to the file ("cpu_abi.h"), or a system-like path */
        s->includes++;
        char text[2048];
        if (layers[to].rank > layers[from].rank) {
            snprintf(text, sizeof text, "  %s:%d includes %s, a higher layer\n", rel, no, inc);
            problem(s, text);
        }
        if (!strcmp(inc, "kernels/core/backend.h") && strncmp(rel, "kernels/", 8) && strncmp(rel, "autotune/", 9)) {
            snprintf(text, sizeof text, "  %s:%d includes %s, private to kernels/ (kiln/error.h has kiln_fail)\n", rel, no, inc);
            problem(s, text);
        }
        if (from != to && !s->edge[from][to]) {
            s->edge[from][to] = 1;
            snprintf(s->edge_example[from][to], sizeof s->edge_example[from][to], "%.200s:%d", rel, no);
        }
    }
    fclose(f);
}

static void walk(scan *s, const char *root, const char *rel)
{
    char path[2048];
    snprintf(path, sizeof path, "%s/%s", root, rel);
    DIR *d = opendir(path);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.') continue;
        char child[1024], full[3072];
        snprintf(child, sizeof child, "%s/%s", rel, e->d_name);
        snprintf(full, sizeof full, "%s/%s", root, child);
        struct stat st;
        if (lstat(full, &st)) continue;
        if (S_ISDIR(st.st_mode)) walk(s, root, child);
        else if (S_ISREG(st.st_mode) && is_source(e->d_name)) scan_file(s, root, child);
    }
    closedir(d);
}

/* Depth-first search for a cycle between folders; writes it into s->problems. */
static int cycle_from(scan *s, int v, int *state, int *stack, int depth)
{
    state[v] = 1;
    stack[depth] = v;
    for (int w = 0; w < (int)N_LAYERS; w++) {
        if (!s->edge[v][w]) continue;
        if (state[w] == 1) {
            char text[1536] = "  a cycle between folders:";
            size_t n = strlen(text);
            int start = 0;
            while (stack[start] != w) start++;
            for (int i = start; i <= depth; i++) {
                int a = stack[i], b = i < depth ? stack[i + 1] : w;
                n += (size_t)snprintf(text + n, sizeof text - n, " %s -> %s (%s)", layers[a].prefix, layers[b].prefix,
                                      s->edge_example[a][b]);
                if (n >= sizeof text - 2) break;
            }
            if (n < sizeof text - 2) memcpy(text + n, "\n", 2);
            problem(s, text);
            return 1;
        }
        if (!state[w] && cycle_from(s, w, state, stack, depth + 1)) return 1;
    }
    state[v] = 2;
    return 0;
}

static void scan_tree(scan *s, const char *root)
{
    memset(s, 0, sizeof *s);
    static const char *const tops[] = {"include", "formats", "gen", "kernels", "autotune", "runtime", "demo", "bench", "examples", "tools"};
    for (size_t i = 0; i < sizeof tops / sizeof tops[0]; i++) walk(s, root, tops[i]);
    int state[N_LAYERS] = {0}, stack[N_LAYERS + 1];
    for (int v = 0; v < (int)N_LAYERS; v++)
        if (!state[v] && cycle_from(s, v, state, stack, 0)) break;
}

Test(layering, includes_point_down_and_folders_make_no_cycle)
{
    scan s;
    scan_tree(&s, KILN_SOURCE_DIR);
    cr_assert_gt(s.files, 150, "only %d source files found under %s", s.files, KILN_SOURCE_DIR);
    cr_assert_gt(s.includes, 300, "only %d includes of the tree's folders found", s.includes);
    cr_assert_eq(s.len, 0, "the one-way dependencies are broken:\n%s", s.problems);
}

/* The check itself: a tree with one upward include, one cycle and one private
 * include must fail with each named. */
Test(layering, a_bad_tree_is_caught)
{
    char root[] = "/tmp/kiln-layering-XXXXXX";
    cr_assert_not_null(mkdtemp(root));
    static const char *const files[][2] = {
        {"formats/a.c", "#include \"gen/b.h\"\n"},                       /* upward */
        {"gen/b.h", "#include \"kiln/kiln.h\"\n"},
        {"runtime/c.c", "  #  include \"autotune/d.h\"\n"},             /* runtime <-> autotune */
        {"autotune/d.h", "#include \"runtime/e.h\"\n"},
        {"runtime/e.h", "\n"},
        {"demo/f.c", "#include \"kernels/core/backend.h\"\n"},          /* private */
        {"include/kiln/kiln.h", "/* #include \"demo/x.h\" is only a comment */\n"},
    };
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "mkdir -p %s/formats %s/gen %s/runtime %s/autotune %s/demo %s/include/kiln", root, root,
             root, root, root, root);
    cr_assert_eq(system(cmd), 0);
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", root, files[i][0]);
        FILE *f = fopen(path, "w");
        cr_assert_not_null(f);
        fputs(files[i][1], f);
        fclose(f);
    }
    scan s;
    scan_tree(&s, root);
    snprintf(cmd, sizeof cmd, "rm -rf %s", root);
    cr_assert_eq(system(cmd), 0);
    cr_expect(strstr(s.problems, "formats/a.c:1 includes gen/b.h, a higher layer"), "%s", s.problems);
    cr_expect(strstr(s.problems, "a cycle between folders"), "%s", s.problems);
    cr_expect(strstr(s.problems, "autotune/") && strstr(s.problems, "runtime/ ->"), "%s", s.problems);
    cr_expect(strstr(s.problems, "demo/f.c:1 includes kernels/core/backend.h, private"), "%s", s.problems);
    cr_expect(!strstr(s.problems, "demo/x.h"), "a comment is not an include: %s", s.problems);
}

/* demo/cmd_tune.c — `kiln tune`: autotune a device, or show its cache. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "demo/args.h"
#include "demo/commands.h"
#include "kiln/autotune.h"
#include "kiln/kiln.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kiln tune [--backend cpu|cuda|vulkan] [--device ID] [--ops LIST] [--budget SECONDS]\n"
            "                 [-m MODEL.gguf] [--formats LIST] [--small] [--force]\n"
            "                 [--search auto|exhaustive|guided] [--check-exhaustive] [--axes LIST]\n"
            "                 [--compile-threads N]\n"
            "       kiln tune --show [--backend B | --device ID]\n\n"
            "Searches the tile parameters of each op on a device and keeps the fastest correct\n"
            "candidate per shape class in $XDG_CACHE_HOME/kiln/tune/<device>.json, which every\n"
            "op call then uses. Classes already tuned are reused without measuring (--force\n"
            "measures again).\n\n"
            "  --backend B      cpu (default), cuda or vulkan (device 0)\n"
            "  --device ID      cpu, cuda:N, vulkan:N\n"
            "  --ops LIST       matmul (or matvec: the same family),flash_attn,paged_attn,norm\n"
            "                   (default: all)\n"
            "  --budget S       wall-clock budget in seconds (default 120): no class begins\n"
            "                   after it and a search stops at it, so the run ends within S\n"
            "                   plus one candidate's measurement; classes cut short keep the\n"
            "                   best found so far, those not begun are listed\n"
            "  -m MODEL         tune the shapes and weight formats of a GGUF model\n"
            "  --formats LIST   weight formats for matmul (default q4_0,q8_0,q4_k,f16)\n"
            "  --small          small shapes (quick; for tests and slow devices)\n"
            "  --search S       auto (default: exhaustive up to 48 points, else guided),\n"
            "                   exhaustive (every point, within the budget) or guided\n"
            "                   (coordinate descent from the heuristic default)\n"
            "  --exhaustive     same as --search exhaustive\n"
            "  --check-exhaustive  search guided, then walk the whole space too, and report\n"
            "                   the guided pick against the exhaustive best (exit 3 when a\n"
            "                   complete check finds the pick more than 5%% slower)\n"
            "  --axes LIST      search only these tile fields (tm,tn,tk,threads,stages,vec,split);\n"
            "                   the others keep the default's values (a walkable space for\n"
            "                   --check-exhaustive on a GPU)\n"
            "  --compile-threads N  threads compiling candidates ahead of measuring\n"
            "                   (vulkan, cuda); 1 compiles each on its first run (default: cores)\n"
            "  --show           print the cache and exit\n");
}

static void progress(void *user, int done, int total, const char *what)
{
    (void)user;
    int width = 30, filled = total ? done * width / total : width;
    fprintf(stderr, "\r[%.*s%*s] %d/%d %-90.90s", filled, "##############################", width - filled, "",
            done, total, what);
    if (done == total) fprintf(stderr, "\n");
    fflush(stderr);
}

static void print_table(const kiln_tune_result *r, size_t n)
{
    printf("%-60s %-26s %11s %11s %8s %-16s  %s\n", "shape class", "shape", "default us", "tuned us", "speedup",
           "search: tried", "chosen spec");
    for (size_t i = 0; i < n; i++) {
        double speedup = r[i].default_us > 0 ? r[i].default_us / r[i].tuned_us : NAN;
        char how[48];
        if (r[i].unfinished == 2) continue; /* listed after the table */
        if (r[i].from_cache) snprintf(how, sizeof how, "(cached)");
        else snprintf(how, sizeof how, "%s: %d/%d", r[i].search, r[i].tried, r[i].space_points);
        printf("%-60.60s %-26.26s %11.2f %11.2f %7.2fx %-16s  %s\n", r[i].shape_class, r[i].shape, r[i].default_us,
               r[i].tuned_us, speedup, how, r[i].tuned_spec);
    }
}

/* The guided pick against the exhaustive best, per class (--check-exhaustive).
 * Returns how many complete checks found the pick more than 5% slower. */
static int print_check(const kiln_tune_result *r, size_t n)
{
    int over = 0;
    printf("\n%-60s %10s %11s %11s %7s  %s\n", "check: shape class", "walked", "guided us", "best us", "ratio",
           "exhaustive best");
    for (size_t i = 0; i < n; i++) {
        if (r[i].from_cache || r[i].exhaustive_us <= 0) continue;
        int complete = r[i].exhaustive_visited >= r[i].space_points;
        double ratio = r[i].tuned_us / r[i].exhaustive_us;
        if (complete && ratio > 1.05) over++;
        printf("%-60.60s %4d/%-5d %11.2f %11.2f %6.3fx  %s%s\n", r[i].shape_class, r[i].exhaustive_visited,
               r[i].space_points, r[i].tuned_us, r[i].exhaustive_us, ratio, r[i].exhaustive_spec,
               !complete ? " (budget ran out: partial)" : ratio > 1.05 ? " (guided pick > 5% slower)" : "");
    }
    return over;
}

static int parse_ops(const char *list, unsigned *ops)
{
    static const char *const names[] = {"matmul", "flash_attn", "paged_attn", "norm"};
    char buf[256];
    snprintf(buf, sizeof buf, "%s", list);
    *ops = 0;
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int found = 0;
        for (unsigned i = 0; i < 4; i++)
            if (!strcmp(tok, names[i]) || (!strcmp(tok, "matvec") && i == 0)) *ops |= 1u << i, found = 1;
        if (!found) {
            fprintf(stderr, "kiln tune: unknown op '%s' (matmul, flash_attn, paged_attn, norm)\n", tok);
            return 0;
        }
    }
    return 1;
}

int kiln_cmd_tune(int argc, char **argv)
{
    kiln_tune_options o = kiln_tune_options_default();
    const char *device = "cpu";
    int show = 0;
    kiln_dtype fmts[16];
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 0;
        } else if (!strcmp(a, "--show")) show = 1;
        else if (!strcmp(a, "--small")) o.small = 1;
        else if (!strcmp(a, "--exhaustive")) o.search = KILN_TUNE_SEARCH_EXHAUSTIVE;
        else if (!strcmp(a, "--check-exhaustive")) o.check_exhaustive = 1;
        else if (v && !strcmp(a, "--search")) {
            if (!strcmp(v, "auto")) o.search = KILN_TUNE_SEARCH_AUTO;
            else if (!strcmp(v, "exhaustive")) o.search = KILN_TUNE_SEARCH_EXHAUSTIVE;
            else if (!strcmp(v, "guided")) o.search = KILN_TUNE_SEARCH_GUIDED;
            else {
                fprintf(stderr, "kiln tune: --search takes auto, exhaustive or guided, not '%s'\n", v);
                return 2;
            }
            i++;
        } else if (v && !strcmp(a, "--axes")) {
            o.axes = v, i++;
        } else if (v && !strcmp(a, "--compile-threads")) {
            if (kiln_arg_i32("kiln tune", a, v, 1, 4096, &o.compile_threads)) return 2;
            i++;
        }
        else if (!strcmp(a, "--force")) o.force = 1;
        else if (v && (!strcmp(a, "--backend") || !strcmp(a, "--device"))) device = v, i++;
        else if (v && !strcmp(a, "--budget")) {
            if (kiln_arg_double("kiln tune", a, v, 1e-3, 1e9, &o.budget_s)) return 2; /* seconds, > 0 */
            i++;
        } else if (v && !strcmp(a, "-m")) o.model_path = v, i++;
        else if (v && !strcmp(a, "--ops")) {
            if (!parse_ops(v, &o.ops)) return 2;
            i++;
        } else if (v && !strcmp(a, "--formats")) {
            char buf[256];
            snprintf(buf, sizeof buf, "%s", v);
            o.n_formats = 0;
            for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
                int d = kiln_dtype_from_name(t);
                const kiln_dtype_info *info = d >= 0 ? kiln_dtype_get((kiln_dtype)d) : NULL;
                if (!info || !info->is_weight_format || o.n_formats == 16) {
                    fprintf(stderr, "kiln tune: '%s' is not a weight format\n", t);
                    return 2;
                }
                fmts[o.n_formats++] = (kiln_dtype)d;
            }
            o.formats = fmts;
            i++;
        } else {
            fprintf(stderr, "kiln tune: unknown or incomplete option '%s' (see --help)\n", a);
            return 2;
        }
    }
    kiln_context *ctx;
    if (kiln_context_create(device, NULL, &ctx) != KILN_OK) {
        fprintf(stderr, "kiln tune: %s\n", kiln_last_error());
        return 1;
    }
    char path[2048];
    kiln_tune_cache_path(ctx, path, sizeof path);
    kiln_tune_result *r = NULL;
    size_t n = 0;
    kiln_status st = kiln_tune_cache_read(ctx, &r, &n);
    if (st != KILN_OK) fprintf(stderr, "kiln tune: not using the cache: %s\n", kiln_last_error());
    if (show) {
        printf("%s: %zu tuned class%s\n", path, n, n == 1 ? "" : "es");
        if (n) print_table(r, n);
        kiln_tune_results_free(r);
        kiln_context_destroy(ctx);
        return st == KILN_OK ? 0 : 1;
    }
    kiln_tune_results_free(r);
    if (o.check_exhaustive) o.force = 1; /* a check measures, whatever the cache holds */
    if (isatty(2)) o.progress = progress;
    else o.progress = NULL;
    fprintf(stderr, "kiln tune: %s, budget %.0f s, cache %s\n", device, o.budget_s, path);
    st = kiln_tune(ctx, &o, &r, &n);
    if (st != KILN_OK) {
        fprintf(stderr, "kiln tune: %s\n", kiln_last_error());
        kiln_context_destroy(ctx);
        return 1;
    }
    print_table(r, n);
    int cut = 0, skipped = 0;
    for (size_t i = 0; i < n; i++) cut += r[i].unfinished == 1, skipped += r[i].unfinished == 2;
    if (cut || skipped) {
        fprintf(stderr, "kiln tune: the %g s budget ran out: %d class%s searched in part (best so far kept), %d not begun%s\n",
                o.budget_s, cut, cut == 1 ? "" : "es", skipped, skipped ? ":" : "");
        for (size_t i = 0; i < n; i++)
            if (r[i].unfinished == 2) fprintf(stderr, "  %s %s\n", r[i].shape_class, r[i].shape);
    }
    int over = o.check_exhaustive ? print_check(r, n) : 0;
    kiln_tune_results_free(r);
    kiln_context_destroy(ctx);
    return over ? 3 : 0;
}

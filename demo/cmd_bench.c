/* demo/cmd_bench.c — `kiln bench`: time one op on any backend (bench/bench.h)
 * and put the figures beside the machine's ceilings (a streaming read measured
 * in the same run, and the f32 FMA peak) — the roofline of each case. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench/bench.h"
#include "demo/args.h"
#include "demo/commands.h"
#include "kiln/autotune.h"
#include "kiln/cuda_emu.h"
#include "kiln/kiln.h"

static void usage(FILE *f)
{
    fprintf(f,
            "usage: kiln bench --op OP [options]      (kiln bench -m MODEL --help: whole models)\n"
            "  --op OP            matvec | matmul | flash_attn | paged_attn | norm | rope | plan-overhead\n"
            "  --backend B        cpu (default), cuda, vulkan; --device D overrides (\"cuda:1\")\n"
            "  --format F[,F..]   weight format (matmul) or K/V dtype (attention, rope's cache); one case per format\n"
            "                     (default q4_0; attention f16)\n"
            "  --dtype T          activations / q / o / norm data: f32 | f16 | bf16\n"
            "  --threads T        cpu worker threads (default: KILN_THREADS or all cores)\n"
            "  --isa I            cpu ISA: generic | avx2 | avx512 (default: the best)\n"
            "  matmul:    --m M --k K --n N (defaults 4096 14336, n=1 for matvec, 512 for matmul)\n"
            "             --epilogue bias,residual,swiglu\n"
            "  attention: --heads H --kv-heads H --head-dim D --q-len N --kv-len N [--no-causal]\n"
            "             --seqs S --block-size B (paged)\n"
            "  norm:      --rows R --dim D [--layer] [--no-residual]\n"
            "  rope:      --q-len N (tokens, default 512) --heads H --kv-heads H --head-dim D --block-size B\n"
            "  timing:    --runs N (at most), --min-runs N, --warmup N, --seconds S (time per case)\n"
            "  --no-roofline      skip measuring the host read bandwidth\n"
            "  --json             one JSON object per case on stdout\n"
            "  plan-overhead: per-call time of kiln_matmul against kiln_plan_run of a plan made once, on a\n"
            "             tiny matmul (--m 32 --k 64 --n 1, --format q4_0; --runs N calls per round, default 2000)\n"
            "  --profile          with --backend cuda-emu (the CUDA emulator): per kernel, the shared-memory\n"
            "                     bank conflicts and global 32-byte sectors of its wrapped accesses, per launch\n"
            "Weights (or K/V, or norm input) are rotated over copies totalling > 2x the last-level\n"
            "cache, so every run reads them from memory. time_us is the median wall-clock time of\n"
            "the runs; cpu_us the median CPU time of the process per run, all threads together\n"
            "(on a busy machine, cpu_us / threads is what the op cost while it ran).\n");
}

#define CMD "kiln bench"
#define MAX_DIM ((long long)1 << 31)

/* A shape dimension: an integer 1..2^31. */
static int parse_dim(const char *opt, const char *s, int64_t *out)
{
    long long v;
    if (kiln_arg_int(CMD, opt, s, 1, MAX_DIM, &v)) return -1;
    *out = v;
    return 0;
}

static int parse_dtype(const char *s, kiln_dtype *out)
{
    int t = kiln_dtype_from_name(s);
    if (t < 0) return -1;
    *out = (kiln_dtype)t;
    return 0;
}

static int parse_epilogue(const char *s, unsigned *out)
{
    *out = 0;
    char buf[128];
    snprintf(buf, sizeof buf, "%s", s);
    for (char *tok = strtok(buf, ",+"); tok; tok = strtok(NULL, ",+")) {
        if (!strcmp(tok, "bias")) *out |= KILN_EPI_BIAS;
        else if (!strcmp(tok, "residual")) *out |= KILN_EPI_RESIDUAL;
        else if (!strcmp(tok, "swiglu")) *out |= KILN_EPI_SWIGLU;
        else if (strcmp(tok, "none")) return -1;
    }
    return 0;
}

/* The dtype a case is about: the weights / K/V, or the data for norm. */
static const char *case_format(const kiln_bench_case *c)
{
    return kiln_dtype_get(c->op == KILN_BENCH_NORM ? c->dtype : c->format)->name;
}

static void print_json(const kiln_bench_case *c, const kiln_device_info *info, int threads, const kiln_bench_result *r,
                       double read_gbps, double peak_gflops)
{
    char shape[160];
    kiln_bench_shape(c, shape, sizeof shape);
    printf("{\"op\":\"%s\",\"backend\":\"%s\",\"device\":\"%s\",\"format\":\"%s\",\"dtype\":\"%s\",\"shape\":\"%s\","
           "\"threads\":%d,\"time_us\":%.2f,\"min_us\":%.2f,\"cpu_us\":%.2f,\"runs\":%d,\"bytes\":%.0f,\"flops\":%.0f,"
           "\"gbps\":%.3f,\"gflops\":%.3f,\"read_gbps\":%.3f,\"peak_gflops\":%.1f,\"roofline_bw\":%.3f,"
           "\"roofline_flops\":%.3f,\"copies\":%d}\n",
           kiln_bench_op_name(c->op), kiln_backend_name(info->backend), info->name, case_format(c),
           kiln_dtype_get(c->dtype)->name, shape, threads, r->median_us, r->min_us, r->cpu_us, r->runs, r->bytes,
           r->flops,
           r->gbps, r->gflops, read_gbps, peak_gflops, read_gbps > 0 ? r->gbps / read_gbps : 0.0,
           peak_gflops > 0 ? r->gflops / peak_gflops : 0.0, r->weight_copies);
    fflush(stdout);
}

static void print_row(const kiln_bench_case *c, const kiln_bench_result *r, double read_gbps, double peak_gflops)
{
    char shape[160];
    kiln_bench_shape(c, shape, sizeof shape);
    printf("%-10s %-6s %-34s %11.1f %11.1f %9.2f %9.1f %8.1f%% %8.1f%% %4d\n", kiln_bench_op_name(c->op),
           case_format(c), shape, r->median_us, r->cpu_us, r->gbps, r->gflops,
           read_gbps > 0 ? 100.0 * r->gbps / read_gbps : 0.0, peak_gflops > 0 ? 100.0 * r->gflops / peak_gflops : 0.0,
           r->runs);
    fflush(stdout);
}

/* --profile: what the emulator counted, per kernel and launch (docs/CUDA.md). */
static void print_emu_profile(void)
{
    kiln_cuda_emu_profile(0);
    printf("%-56s %8s %10s %10s %10s %10s %10s %12s\n", "cuda-emu profile, per launch: kernel", "launches",
           "smem_req", "wavefronts", "conflicts", "gmem_req", "sectors", "min_sectors");
    for (int i = 0, n = kiln_cuda_emu_profile_count(); i < n; i++) {
        kiln_cuda_emu_counters k;
        if (kiln_cuda_emu_profile_get(i, &k) != KILN_OK || !k.launches) continue;
        const double l = (double)k.launches;
        printf("%-56s %8llu %10.0f %10.0f %10.0f %10.0f %10.0f %12.0f\n", k.kernel, (unsigned long long)k.launches,
               k.shared_requests / l, k.shared_wavefronts / l, k.bank_conflicts / l, k.global_requests / l,
               k.global_sectors / l, k.global_bytes / 32.0 / l);
    }
}

/* --op plan-overhead: what a plan saves per call (bench/plan_overhead.c). */
static int plan_overhead(kiln_context *ctx, const kiln_device_info *info, const kiln_bench_case *c, int calls, int json)
{
    kiln_bench_overhead o;
    kiln_status s = kiln_bench_plan_overhead(ctx, c->format, c->m, c->k, c->n, calls, &o);
    if (s) {
        fprintf(stderr, "kiln bench: plan-overhead failed: %s: %s\n", kiln_status_name(s), kiln_last_error());
        return 1;
    }
    char shape[96];
    snprintf(shape, sizeof shape, "m=%lld k=%lld n=%lld", (long long)c->m, (long long)c->k, (long long)c->n);
    if (json)
        printf("{\"op\":\"plan-overhead\",\"backend\":\"%s\",\"device\":\"%s\",\"format\":\"%s\",\"shape\":\"%s\","
               "\"one_call_us\":%.3f,\"plan_run_us\":%.3f,\"plan_us\":%.1f,\"calls\":%d}\n",
               kiln_backend_name(info->backend), info->name, kiln_dtype_get(c->format)->name, shape, o.one_call_us,
               o.plan_run_us, o.plan_us, o.calls);
    else
        printf("plan-overhead %s %s: kiln_matmul %.3f us/call, kiln_plan_run %.3f us/call (%.3f us less), "
               "making the plan %.1f us; %d calls each\n",
               kiln_dtype_get(c->format)->name, shape, o.one_call_us, o.plan_run_us, o.one_call_us - o.plan_run_us,
               o.plan_us, o.calls);
    return 0;
}

int kiln_cmd_bench(int argc, char **argv)
{
    const char *backend = "cpu", *device = NULL, *formats = NULL, *isa = NULL;
    int json = 0, threads = 0, roofline = 1, op = -1, profile = 0, overhead = 0, runs_set = 0;
    kiln_bench_case c = kiln_bench_default(KILN_BENCH_MATVEC);
    /* first pass: the op, whose defaults the other options then override */
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            usage(stdout);
            return 0;
        }
        if (!strcmp(argv[i], "--op") && i + 1 < argc) {
            overhead = !strcmp(argv[i + 1], "plan-overhead");
            op = overhead ? KILN_BENCH_MATVEC : kiln_bench_op_from_name(argv[i + 1]);
        }
        if (!strcmp(argv[i], "-m") || !strcmp(argv[i], "--model")) return kiln_cmd_bench_model(argc, argv); /* whole model */
    }
    if (op < 0) {
        fprintf(stderr, "kiln bench: --op matvec|matmul|flash_attn|paged_attn|norm|rope is required\n\n");
        usage(stderr);
        return 2;
    }
    c = kiln_bench_default((kiln_bench_op)op);
    if (overhead) c.m = 32, c.k = 64, c.n = 1; /* tiny: the call, not the kernel */
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0, takes = 1, quiet = 0; /* quiet: the parser has said what was wrong */
        if (!strcmp(a, "--json")) json = 1, takes = 0;
        else if (!strcmp(a, "--no-causal")) c.causal = 0, takes = 0;
        else if (!strcmp(a, "--causal")) c.causal = 1, takes = 0;
        else if (!strcmp(a, "--layer")) c.layer = 1, takes = 0;
        else if (!strcmp(a, "--no-residual")) c.residual = 0, takes = 0;
        else if (!strcmp(a, "--no-roofline")) roofline = 0, takes = 0;
        else if (!strcmp(a, "--profile")) profile = 1, takes = 0;
        else if (!v) bad = 1;
        else if (!strcmp(a, "--op")) {}
        else if (!strcmp(a, "--backend")) backend = v;
        else if (!strcmp(a, "--device")) device = v;
        else if (!strcmp(a, "--format")) formats = v;
        else if (!strcmp(a, "--isa")) isa = v;
        else if (!strcmp(a, "--dtype")) bad = parse_dtype(v, &c.dtype);
        else if (!strcmp(a, "--epilogue")) bad = parse_epilogue(v, &c.epilogue);
        else if (!strcmp(a, "--threads")) bad = kiln_arg_i32(CMD, a, v, 1, 4096, &threads), quiet = 1;
        else if (!strcmp(a, "--m")) bad = parse_dim(a, v, &c.m), quiet = 1;
        else if (!strcmp(a, "--k")) bad = parse_dim(a, v, &c.k), quiet = 1;
        else if (!strcmp(a, "--n")) bad = parse_dim(a, v, &c.n), quiet = 1;
        else if (!strcmp(a, "--heads")) bad = parse_dim(a, v, &c.heads), quiet = 1;
        else if (!strcmp(a, "--kv-heads")) bad = parse_dim(a, v, &c.kv_heads), quiet = 1;
        else if (!strcmp(a, "--head-dim")) bad = parse_dim(a, v, &c.head_dim), quiet = 1;
        else if (!strcmp(a, "--q-len")) bad = parse_dim(a, v, &c.q_len), quiet = 1;
        else if (!strcmp(a, "--kv-len")) bad = parse_dim(a, v, &c.kv_len), quiet = 1;
        else if (!strcmp(a, "--seqs")) bad = parse_dim(a, v, &c.seqs), quiet = 1;
        else if (!strcmp(a, "--block-size")) bad = parse_dim(a, v, &c.block_size), quiet = 1;
        else if (!strcmp(a, "--rows")) bad = parse_dim(a, v, &c.rows), quiet = 1;
        else if (!strcmp(a, "--dim")) bad = parse_dim(a, v, &c.dim), quiet = 1;
        else if (!strcmp(a, "--runs")) bad = kiln_arg_i32(CMD, a, v, 1, 1000000, &c.max_runs), quiet = 1, runs_set = 1;
        else if (!strcmp(a, "--min-runs")) bad = kiln_arg_i32(CMD, a, v, 1, 1000000, &c.min_runs), quiet = 1;
        else if (!strcmp(a, "--warmup")) bad = kiln_arg_i32(CMD, a, v, 0, 1000000, &c.warmup), quiet = 1;
        else if (!strcmp(a, "--seconds")) bad = kiln_arg_double(CMD, a, v, 0, 86400, &c.min_seconds), quiet = 1;
        else {
            fprintf(stderr, "kiln bench: unknown option '%s'\n\n", a);
            usage(stderr);
            return 2;
        }
        if (bad) {
            if (!v) fprintf(stderr, CMD ": %s needs a value\n", a);
            else if (!quiet) fprintf(stderr, CMD ": %s: '%s' is not one of the values --help lists\n", a, v);
            return 2;
        }
        i += takes;
    }
    if (c.min_runs > c.max_runs) c.min_runs = c.max_runs;

    kiln_context_options o = kiln_context_options_default();
    o.threads = kiln_demo_cap_threads("bench", threads);
    o.cpu_isa = isa;
    o.chooser = &kiln_tune_chooser;
    o.warn = kiln_warn_stderr;
    kiln_context *ctx = NULL;
    if (kiln_context_create(device ? device : backend, &o, &ctx)) {
        fprintf(stderr, "kiln bench: cannot open %s: %s\n", device ? device : backend, kiln_last_error());
        return 1;
    }
    kiln_device_info info;
    kiln_context_get_device(ctx, &info);
    if (profile && strncmp(info.id, "cuda-emu", 8) != 0) {
        fprintf(stderr, "kiln bench: --profile needs the CUDA emulator (--backend cuda-emu), not %s\n", info.id);
        kiln_context_destroy(ctx);
        return 2;
    }
    if (overhead) {
        if (formats && parse_dtype(formats, &c.format)) {
            fprintf(stderr, "kiln bench: unknown format '%s'\n", formats);
            kiln_context_destroy(ctx);
            return 2;
        }
        int st = plan_overhead(ctx, &info, &c, runs_set ? c.max_runs : 2000, json);
        kiln_context_destroy(ctx);
        return st;
    }
    if (profile) kiln_cuda_emu_profile(1);
    int nthreads = info.backend == KILN_BACKEND_CPU ? info.multiprocessors : 0;
    double read_gbps = roofline && info.backend == KILN_BACKEND_CPU ? kiln_bench_host_read_gbps(nthreads) : 0.0;
    double peak = kiln_bench_cpu_peak_gflops(&info, nthreads);
    if (!json) {
        if (nthreads)
            printf("kiln bench on %s (%s, %d threads)\n", info.name, kiln_backend_name(info.backend), nthreads);
        else
            printf("kiln bench on %s (%s)\n", info.name, kiln_backend_name(info.backend));
        if (read_gbps > 0) printf("host read bandwidth (streaming, same run): %.1f GB/s", read_gbps);
        if (peak > 0) printf("%sf32 FMA peak %.0f GFLOP/s", read_gbps > 0 ? "; " : "", peak);
        if (read_gbps > 0 || peak > 0) printf("\n");
        printf("%-10s %-6s %-34s %11s %11s %9s %9s %9s %9s %4s\n", "op", "format", "shape", "time_us", "cpu_us",
               "GB/s", "GFLOP/s", "of_bw", "of_peak", "runs");
    }
    char list[256];
    snprintf(list, sizeof list, "%s", formats ? formats : kiln_dtype_get(c.format)->name);
    int status = 0;
    for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
        if (parse_dtype(tok, &c.format)) {
            fprintf(stderr, "kiln bench: unknown format '%s'\n", tok);
            status = 2;
            continue;
        }
        kiln_bench_result r;
        kiln_status s = kiln_bench_run(ctx, &c, &r);
        if (s) {
            fprintf(stderr, "kiln bench: %s %s failed: %s: %s\n", kiln_bench_op_name(c.op), tok, kiln_status_name(s),
                    kiln_bench_error());
            status = 1;
            continue;
        }
        if (json)
            print_json(&c, &info, nthreads, &r, read_gbps, peak);
        else
            print_row(&c, &r, read_gbps, peak);
    }
    if (profile) print_emu_profile();
    kiln_context_destroy(ctx);
    return status;
}

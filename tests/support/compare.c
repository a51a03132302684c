/* tests/support/compare.c — comparing outputs with the double references.
 * The first few failures of a test are reported in full, later ones counted
 * only, so a broken backend does not bury the log under a sweep's worth of
 * identical messages. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "support/harness.h"

#define KT_FAILURES_SHOWN 6

static int failures;

int kt_failures(void) { return failures; }

static int verbose(void)
{
    static int v = -1;
    if (v < 0) {
        const char *e = getenv("KILN_TEST_VERBOSE");
        v = e && *e && strcmp(e, "0") != 0;
    }
    return v;
}

void kt_trace(const char *what)
{
    if (verbose()) {
        fprintf(stderr, "[case] %s\n", what);
        fflush(stderr);
    }
}

static void record_failure(const char *msg)
{
    failures++;
    if (failures <= KT_FAILURES_SHOWN)
        cr_expect_fail("%s", msg);
    else if (failures == KT_FAILURES_SHOWN + 1)
        cr_expect_fail("(further failures of this test not shown)");
    /* later ones: the test is already marked failed */
}

void kt_fail_status(const char *what, const char *call, kiln_status st)
{
    char msg[2048];
    snprintf(msg, sizeof msg, "%s [seed=%llu]: %s returned %s: %s", what, (unsigned long long)kt_seed(), call,
             kiln_status_name(st), kiln_last_error());
    record_failure(msg);
}

/* Decodes out and measures it against ref; *got_out (malloc'ed decoded
 * values) is handed back when asked for, for the failure message. */
static kt_stats compare(kiln_dtype t, const void *out, int64_t n, const double *ref, const double *err_scale, kt_tol tol,
                        double **got_out)
{
    double *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    cr_assert_not_null(got);
    kt_decode(t, out, n, got);
    kt_stats s = {0};
    s.first_nonfinite = -1;
    double d2 = 0, r2 = 0, s2 = 0, dmax = 0, rmax = 0, smax = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            if (s.first_nonfinite < 0) s.first_nonfinite = i;
            s.nonfinite++;
            continue;
        }
        double d = fabs(got[i] - ref[i]);
        d2 += d * d;
        r2 += ref[i] * ref[i];
        if (d > dmax) dmax = d, s.worst = i;
        if (fabs(ref[i]) > rmax) rmax = fabs(ref[i]);
        if (err_scale) {
            s2 += err_scale[i] * err_scale[i];
            if (err_scale[i] > smax) smax = err_scale[i];
        }
    }
    double denom = fmax(sqrt(r2), sqrt(s2)), mdenom = fmax(rmax, smax);
    if (denom == 0) denom = 1;  /* an all-zero reference: judge absolute errors */
    if (mdenom == 0) mdenom = 1;
    s.rel = sqrt(d2) / denom;
    s.max_abs = dmax / mdenom;
    s.ok = s.nonfinite == 0 && s.rel <= tol.rel && s.max_abs <= tol.max_abs;
    if (got_out) *got_out = got;
    else free(got);
    return s;
}

kt_stats kt_compare_host(kiln_dtype t, const void *out, int64_t n, const double *ref, const double *err_scale, kt_tol tol)
{
    return compare(t, out, n, ref, err_scale, tol, NULL);
}

int kt_check_host(const char *what, kiln_dtype t, const void *out, int64_t n, const double *ref,
                  const double *err_scale, kt_tol tol)
{
    double *got = NULL;
    kt_stats s = compare(t, out, n, ref, err_scale, tol, &got);
    if (verbose()) /* the margins, for choosing tolerances */
        fprintf(stderr, "[%s] %s: rel %.3g of %.3g, max %.3g of %.3g\n", s.ok ? "ok" : "FAIL", what, s.rel, tol.rel,
                s.max_abs, tol.max_abs);
    if (!s.ok) {
        char msg[2048];
        if (s.nonfinite)
            snprintf(msg, sizeof msg, "%s [seed=%llu]: %lld of %lld outputs are NaN/Inf (first at [%lld]: %g, ref %.6g)", what,
                     (unsigned long long)kt_seed(), (long long)s.nonfinite, (long long)n, (long long)s.first_nonfinite,
                     got[s.first_nonfinite], ref[s.first_nonfinite]);
        else
            snprintf(msg, sizeof msg,
                     "%s [seed=%llu]: relative error %.3g (tolerance %.3g), largest error %.3g of the largest magnitude "
                     "(tolerance %.3g) at [%lld]: got %.7g, ref %.7g",
                     what, (unsigned long long)kt_seed(), s.rel, tol.rel, s.max_abs, tol.max_abs, (long long)s.worst,
                     got[s.worst], ref[s.worst]);
        record_failure(msg);
    }
    free(got);
    return s.ok;
}

int kt_check(const char *what, const kiln_tensor *out, const double *ref, const double *err_scale, kt_tol tol)
{
    size_t bytes = 0;
    void *host = kt_download(out, &bytes);
    int ok = kt_check_host(what, out->dtype, host, kt_numel(out), ref, err_scale, tol);
    free(host);
    return ok;
}

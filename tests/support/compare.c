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

void kt_trace(const char *what)
{
    static int verbose = -1;
    if (verbose < 0) {
        const char *v = getenv("KILN_TEST_VERBOSE");
        verbose = v && *v && strcmp(v, "0") != 0;
    }
    if (verbose) {
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

int kt_check_host(const char *what, kiln_dtype t, const void *out, int64_t n, const double *ref,
                  const double *err_scale, kt_tol tol)
{
    double *got = malloc((size_t)(n ? n : 1) * sizeof *got);
    cr_assert_not_null(got);
    kt_decode(t, out, n, got);
    double d2 = 0, r2 = 0, s2 = 0, dmax = 0, rmax = 0, smax = 0;
    int64_t bad = 0, first_bad = -1, at = 0;
    for (int64_t i = 0; i < n; i++) {
        if (!isfinite(got[i])) {
            if (first_bad < 0) first_bad = i;
            bad++;
            continue;
        }
        double d = fabs(got[i] - ref[i]);
        d2 += d * d;
        r2 += ref[i] * ref[i];
        if (d > dmax) dmax = d, at = i;
        if (fabs(ref[i]) > rmax) rmax = fabs(ref[i]);
        if (err_scale) {
            s2 += err_scale[i] * err_scale[i];
            if (err_scale[i] > smax) smax = err_scale[i];
        }
    }
    double denom = fmax(sqrt(r2), sqrt(s2)), mdenom = fmax(rmax, smax);
    if (denom == 0) denom = 1;  /* an all-zero reference: judge absolute errors */
    if (mdenom == 0) mdenom = 1;
    const double rel = sqrt(d2) / denom, mabs = dmax / mdenom;
    const int ok = bad == 0 && rel <= tol.rel && mabs <= tol.max_abs;
    if (!ok) {
        char msg[2048];
        if (bad)
            snprintf(msg, sizeof msg, "%s [seed=%llu]: %lld of %lld outputs are NaN/Inf (first at [%lld]: %g, ref %.6g)", what,
                     (unsigned long long)kt_seed(), (long long)bad, (long long)n, (long long)first_bad, got[first_bad],
                     ref[first_bad]);
        else
            snprintf(msg, sizeof msg,
                     "%s [seed=%llu]: relative error %.3g (tolerance %.3g), largest error %.3g of max magnitude %.3g = %.3g "
                     "(tolerance %.3g) at [%lld]: got %.7g, ref %.7g",
                     what, (unsigned long long)kt_seed(), rel, tol.rel, dmax, mdenom, mabs, tol.max_abs, (long long)at,
                     got[at], ref[at]);
        record_failure(msg);
    }
    free(got);
    return ok;
}

int kt_check(const char *what, const kiln_tensor *out, const double *ref, const double *err_scale, kt_tol tol)
{
    size_t bytes = 0;
    void *host = kt_download(out, &bytes);
    int ok = kt_check_host(what, out->dtype, host, kt_numel(out), ref, err_scale, tol);
    free(host);
    return ok;
}

/* examples/consumer/main.c — links kiln, lists devices, runs one fused norm
 * on the CPU through memory the program owns (bring-your-own memory). */
#include <math.h>
#include <stdio.h>

#include <kiln/kiln.h>

int main(void)
{
    printf("kiln %s\n", kiln_version());
    kiln_context *ctx;
    if (kiln_context_create("cpu", NULL, &ctx) != KILN_OK) {
        fprintf(stderr, "no cpu context: %s\n", kiln_last_error());
        return 1;
    }
    float x[8] = {1, 2, 3, 4, 5, 6, 7, 8}, y[8];
    kiln_buffer *bx, *by;
    if (kiln_buffer_wrap_host(ctx, x, sizeof x, &bx) != KILN_OK ||
        kiln_buffer_wrap_host(ctx, y, sizeof y, &by) != KILN_OK) {
        fprintf(stderr, "wrap: %s\n", kiln_last_error());
        return 1;
    }
    const int64_t shape[2] = {1, 8};
    kiln_norm_params p = {
        .kind = KILN_NORM_RMS,
        .x = kiln_tensor_make(bx, 0, KILN_F32, 2, shape),
        .y = kiln_tensor_make(by, 0, KILN_F32, 2, shape),
        .eps = 1e-5f,
    };
    if (kiln_norm(ctx, &p) != KILN_OK || kiln_synchronize(ctx) != KILN_OK) {
        fprintf(stderr, "norm: %s\n", kiln_last_error());
        return 1;
    }
    double ms = 0;
    for (int i = 0; i < 8; i++) ms += (double)x[i] * x[i] / 8;
    double want = 8 / sqrt(ms + 1e-5);
    printf("rmsnorm(x)[7] = %.6f (expected %.6f)\n", y[7], want);
    kiln_buffer_free(bx);
    kiln_buffer_free(by);
    kiln_context_destroy(ctx);
    return fabs(y[7] - want) < 1e-4 * want ? 0 : 1;
}

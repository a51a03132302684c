/* kernels/vulkan/vk_timing.h — device time of kiln's Vulkan submissions, for
 * benchmarks (bench/, `kiln bench --backend vulkan`): host timers around
 * kiln_synchronize also count submission and fence latency, which dominate
 * small kernels.
 *
 * Every command buffer kiln submits on its own queue is bracketed by two
 * timestamp queries; after the submission completes (kiln_synchronize, or a
 * transfer), this returns the nanoseconds between them. Work recorded into a
 * caller's command buffer is not timed here. */
#ifndef KILN_VK_TIMING_H
#define KILN_VK_TIMING_H
#include "kiln/kiln.h"

/* KILN_ERR_UNSUPPORTED when the device's compute queue has no timestamps;
 * KILN_ERR_INVALID_ARG for a context that is not on vulkan. Defined only in
 * builds with the Vulkan backend (declare it weak to probe). */
kiln_status kiln_vk_last_submit_ns(kiln_context *ctx, double *ns);

#endif

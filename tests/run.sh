#!/usr/bin/env bash
# Runs the Criterion suite: tests/run.sh BUILD_DIR [FILTER] [criterion args...]
# Criterion forks one process per test and runs them in parallel; its closing
# "Synthesis" line is the summary CI reads.
#
# Backends: every available one is tested (cpu in each ISA the machine has);
# cpu, vulkan (Mesa's lavapipe, installed by `make deps`) and cuda-emu (the
# CUDA emulator: g++) are required, so a missing one fails the run instead of
# skipping it.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
build=$1; shift
filter=${1:-}; shift || true
args=("$@")
[ -n "$filter" ] && args+=(--filter "$filter")
export KILN_REQUIRE_BACKENDS=${KILN_REQUIRE_BACKENDS:-cpu,vulkan,cuda-emu}
# Vulkan validation layers on (when installed): any validation error fails the call
export KILN_VULKAN_VALIDATION=${KILN_VULKAN_VALIDATION:-1}
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$here/lsan.supp}
# the models `make models` fetched (.ci/models.txt): their folder is resolved
# here, before XDG_CACHE_HOME is made private below
export KILN_MODELS_DIR=${KILN_MODELS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/kiln/models}
# kernels compiled at run time (SPIR-V, cubins) and tuning results go to a
# private cache, so a run never depends on what an earlier one left behind
export XDG_CACHE_HOME=${KILN_TEST_CACHE:-$(mktemp -d /tmp/kiln-test-cache-XXXXXX)}
exec "$build/bin/kiln_tests" "${args[@]}"

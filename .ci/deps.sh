#!/usr/bin/env bash
# Installs the Debian packages kiln's build and tests need, when missing.
# Non-interactive; does nothing when everything is there.
set -euo pipefail
pkgs=(cmake make gcc g++ pkg-config libcriterion-dev
      libvulkan-dev mesa-vulkan-drivers glslc glslang-dev spirv-tools
      vulkan-validationlayers libmicrohttpd-dev libjansson-dev
      clang libclang-rt-14-dev)  # clang: make fuzz, the TSan stress build
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "kiln: installing ${missing[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

#!/bin/sh
# Kiln GPU check kit: runs the bench's kernels and models suites on Kiln (webgpu at GPU-sized
# shapes, cpu at smaller ones) and PyTorch on the same GPU, and writes results/report.json and
# results/report.md. Needs no network and nothing installed but an NVIDIA driver (and
# python3 with torch for the peer column).
#
#   ./run.sh [--quick] [--out-dir DIR] [--sizes 512,1024,2048,4096] [--cpu-sizes 256,1024]
#            [--reps N] [--warmup N] [--max-case-ms N] [--no-torch] [--torch-device cuda|cpu]
set -eu
KIT=$(cd "$(dirname "$0")" && pwd)

# Dawn opens libvulkan.so.1: the kit's loader first, then the driver's own folders.
LIBS="$KIT/lib"
for d in /usr/local/nvidia/lib64 /usr/local/nvidia/lib; do
  if [ -d "$d" ]; then LIBS="$LIBS:$d"; fi
done
# NVIDIA's Vulkan driver manifest, where the loader would not look by itself.
if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
  for f in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /usr/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json; do
    if [ -f "$f" ]; then export VK_DRIVER_FILES="$f"; break; fi
  done
fi
# The kit's libstdc++ only where the machine's own is missing or too old for node.
if ! LD_LIBRARY_PATH="$LIBS" "$KIT/bin/node" --version >/dev/null 2>&1; then LIBS="$LIBS:$KIT/lib/compat"; fi
export LD_LIBRARY_PATH="$LIBS${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

echo "kit: $(cat "$KIT/kit-info.json")" >&2
echo "kit: node $("$KIT/bin/node" --version), VK_DRIVER_FILES=${VK_DRIVER_FILES:-${VK_ICD_FILENAMES:-(loader default)}}" >&2
if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L >&2 || true; fi
KILN_GPU_KIT_MAIN=1 exec "$KIT/bin/node" "$KIT/bench.mjs" "$@"

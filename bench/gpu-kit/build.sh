#!/usr/bin/env bash
# Packs the GPU check kit: one tarball (< 60 MiB) that runs the bench harness's kernels and
# models suites (Kiln webgpu and cpu engines, PyTorch as the peer) on a Linux x86-64 machine
# with an NVIDIA GPU and no network. See bench/gpu-kit/README.md.
#
#   bench/gpu-kit/build.sh [--out DIR] [--check]
#
# --out DIR   where kiln-gpu-kit.tar.gz goes (default bench/gpu-kit/dist, git-ignored)
# --check     also fail unless the tarball is under the size limit and lists every part
#
# What goes in: this machine's node (and the libraries ldd shows it needs beyond glibc, in
# lib/compat, used only where the target's own are missing or too old), bench.mjs and
# engine-worker.mjs (the harness bundled with esbuild), Dawn's dawn.node for linux-x64 with
# the webgpu package's loader, gpu.js (the cpu backend's optional webasm GEMMs), the Vulkan
# loader (libvulkan1) and glvnd's dispatch libraries (NVIDIA's Vulkan driver links them),
# torch_peer.py, run.sh, README.md and kit-info.json (commit, date, versions).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
OUT="$ROOT/bench/gpu-kit/dist"
CHECK=0
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT=$2; shift 2 ;;
    --check) CHECK=1; shift ;;
    *) echo "usage: bench/gpu-kit/build.sh [--out DIR] [--check]" >&2; exit 2 ;;
  esac
done
LIMIT=$((60 * 1024 * 1024))
NAME=kiln-gpu-kit
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
KIT="$WORK/$NAME"
mkdir -p "$KIT/bin" "$KIT/lib/compat" "$KIT/node_modules" "$OUT"

[ "$(uname -m)" = x86_64 ] || { echo "build.sh: the kit is for x86-64; this machine is $(uname -m)" >&2; exit 1; }

# Shared libraries a binary needs beyond glibc (which every Linux machine has).
compat_libs() {
  ldd "$1" | awk '$2 == "=>" && $3 ~ /^\// { print $3 }' | while read -r so; do
    case "$(basename "$so")" in
      libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|ld-linux*) ;;
      *) cp -L "$so" "$KIT/lib/compat/" ;;
    esac
  done
}

# 1. Node.
NODE=${KIT_NODE:-$(command -v node)}
cp -L "$NODE" "$KIT/bin/node"
compat_libs "$NODE"

# 2. The harness, bundled.
(cd "$ROOT" && node bench/gpu-kit/bundle.mjs "$KIT")
cp "$ROOT/bench/gpu-kit/run.sh" "$ROOT/bench/gpu-kit/torch_peer.py" "$ROOT/bench/gpu-kit/README.md" "$KIT/"
chmod +x "$KIT/run.sh"

# 3. Dawn: the webgpu package's loader and its linux-x64 native module only.
DAWN=$(cd "$ROOT/packages/webgpu" && node -e "const p = require('node:path'); console.log(p.dirname(require.resolve('webgpu/package.json')))")
mkdir -p "$KIT/node_modules/webgpu/dist/linux-x64"
cp "$DAWN/package.json" "$DAWN/index.js" "$DAWN/LICENSE.md" "$KIT/node_modules/webgpu/"
cp "$DAWN/dist/linux-x64/dawn.node" "$KIT/node_modules/webgpu/dist/linux-x64/"
compat_libs "$DAWN/dist/linux-x64/dawn.node"

# 4. gpu.js and what it requires at load (gl, its headless-GL backend, is optional and left out).
resolve_from() { (cd "$1" && node -e "const p = require('node:path'); console.log(p.dirname(require.resolve('$2/package.json')))" 2>/dev/null) || true; }
GPUJS=$(resolve_from "$ROOT/packages/cpu" gpu.js)
if [ -n "$GPUJS" ]; then
  mkdir -p "$KIT/node_modules/gpu.js"
  cp -r "$GPUJS/package.json" "$GPUJS/src" "$GPUJS/LICENSE" "$KIT/node_modules/gpu.js/"
  for dep in acorn gpu-mock.js; do
    d=$(resolve_from "$GPUJS" "$dep")
    [ -n "$d" ] && mkdir -p "$KIT/node_modules/$dep" && (cd "$d" && cp -r $(ls -A | grep -v '^node_modules$') "$KIT/node_modules/$dep/")
  done
fi

# 5. The Vulkan loader and glvnd's dispatch libraries: from this machine's installed packages,
#    else downloaded with apt-get.
for pkg in libvulkan1 libglvnd0 libglx0 libegl1 libopengl0; do
  files=$(dpkg -L "$pkg" 2>/dev/null | grep -E '/lib/x86_64-linux-gnu/[^/]+\.so\.[0-9]+$' || true)
  if [ -n "$files" ]; then
    for f in $files; do cp -L "$f" "$KIT/lib/"; done
  else
    # A fresh machine may have empty package lists: update them once, then retry.
    (cd "$WORK" && { apt-get download "$pkg" >/dev/null 2>&1 || { apt-get update -qq >/dev/null && apt-get download "$pkg" >/dev/null; }; } && dpkg -x "$pkg"_*.deb "$WORK/deb-$pkg")
    find "$WORK/deb-$pkg" -name '*.so.[0-9]*' -path '*x86_64-linux-gnu*' -exec cp -L {} "$KIT/lib/" \;
  fi
done
[ -f "$KIT/lib/libvulkan.so.1" ] || { echo "build.sh: no libvulkan.so.1 (install libvulkan1 or allow apt-get download)" >&2; exit 1; }

# 6. What was packed.
COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
DIRTY=$(git -C "$ROOT" status --porcelain 2>/dev/null | grep -qv '^??' && echo "+dirty" || true)
cat > "$KIT/kit-info.json" <<JSON
{ "commit": "$COMMIT$DIRTY", "built": "$(date -u +%Y-%m-%dT%H:%M:%SZ)", "node": "$("$NODE" --version)", "webgpu": "$(node -p "require('$DAWN/package.json').version")" }
JSON

TAR="$OUT/$NAME.tar.gz"
tar -C "$WORK" -czf "$TAR" "$NAME"
SIZE=$(stat -c %s "$TAR")
echo "$TAR: $((SIZE / 1024 / 1024)) MiB ($SIZE bytes), limit $((LIMIT / 1024 / 1024)) MiB"
if [ "$CHECK" = 1 ]; then
  [ "$SIZE" -lt "$LIMIT" ] || { echo "build.sh --check: $SIZE bytes is over the $LIMIT-byte limit" >&2; exit 1; }
  listing=$(tar -tzf "$TAR")
  for part in bin/node bench.mjs engine-worker.mjs run.sh torch_peer.py lib/libvulkan.so.1 node_modules/webgpu/index.js node_modules/webgpu/dist/linux-x64/dawn.node kit-info.json; do
    grep -qx "$NAME/$part" <<<"$listing" || { echo "build.sh --check: $part is missing from the kit" >&2; exit 1; }
  done
  echo "build.sh --check: ok"
fi

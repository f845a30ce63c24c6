#!/usr/bin/env bash
# Kiln as a user gets it: build the packages, pack them into tarballs, install the tarballs into a
# fresh project outside the repository, and train there with plain `node` (no TypeScript, no tsx).
#
#   bash scripts/pack-check.sh            cpu always; webgpu when an adapter answers
#   KILN_REQUIRE_WEBGPU=1 bash ...        webgpu too, and a missing adapter fails (CI)
#
# The tarballs hold only dist/ (ESM JavaScript, source maps, .d.ts); `pnpm pack` turns the
# workspace's `workspace:*` into versions and swaps in publishConfig.exports. Third-party
# dependencies (zod, gpu.js, protobufjs, webgpu) come from npm's cache or the registry.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"

work=$(mktemp -d "${TMPDIR:-/tmp}/kiln-pack-check.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "-- build"
node scripts/build-packages.mjs

echo "-- pack"
for p in core cpu webgpu nn onnx kiln; do
  (cd "packages/$p" && pnpm pack --pack-destination "$work/tarballs" >/dev/null)
done
ls "$work/tarballs"
for t in "$work"/tarballs/*.tgz; do
  if tar -tzf "$t" | grep -q '^package/src/'; then echo "ERROR: $t ships src/" >&2; exit 1; fi
  tar -xzOf "$t" package/package.json | grep -q '"workspace:' && { echo "ERROR: $t keeps a workspace: range" >&2; exit 1; }
done

echo "-- install into a fresh project ($work/app)"
mkdir "$work/app"
cd "$work/app"
printf '{ "name": "kiln-pack-check", "private": true, "type": "module" }\n' > package.json
npm install --no-audit --no-fund --prefer-offline --loglevel=error "$work"/tarballs/*.tgz
cp "$repo/test/package/app.mjs" "$repo/test/package/app.ts" .

echo "-- types: tsc --module nodenext against the installed .d.ts"
# The installed .d.ts are checked too (no --skipLibCheck), with TypeScript's DOM lib, which
# declares the WebGPU types itself (@webgpu/types on top of it would declare them twice).
"$repo/node_modules/.bin/tsc" --noEmit --strict --module nodenext --moduleResolution nodenext --target es2022 \
  --lib es2023,dom --types node --typeRoots "$repo/node_modules/@types" app.ts

echo "-- bundle the installed 'kiln' for a page (esbuild, platform browser: the 'browser' condition)"
printf "import { Graph, compile, nn, optim } from 'kiln';\nconsole.log(Graph, compile, nn, optim);\n" > page.mjs
"$repo/node_modules/.bin/esbuild" page.mjs --bundle --platform=browser --format=esm --log-level=warning --outfile=page.js
if grep -nE "(from|import\(|require\()\s*[\"']node:" page.js; then echo "ERROR: the page bundle imports node: modules" >&2; exit 1; fi
echo "page bundle: $(wc -c < page.js) bytes, no node: imports"

echo "-- train with plain node"
node app.mjs cpu
if node "$repo/scripts/check-webgpu.mjs" >/dev/null 2>&1; then
  node app.mjs webgpu
elif [[ "${KILN_REQUIRE_WEBGPU:-}" == 1 ]]; then
  echo "ERROR: KILN_REQUIRE_WEBGPU=1 but no WebGPU adapter for the webgpu run" >&2
  exit 1
else
  echo "no WebGPU adapter: skipped the webgpu run (KILN_REQUIRE_WEBGPU=1 makes this fatal)"
fi
echo "pack check OK"

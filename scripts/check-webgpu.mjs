#!/usr/bin/env node
// Probe for a WebGPU adapter through Dawn's `webgpu` package, the way the
// @kiln/webgpu backend acquires one.
//
//   node scripts/check-webgpu.mjs        (run from the repository root)
//
// Prints one line describing the adapter and exits 0, or says why there is no
// adapter and exits 1. Exits explicitly: Dawn can keep native threads alive.

import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const TIMEOUT_MS = 30_000;

function fail(message) {
  console.error(`check-webgpu: no adapter: ${message}`);
  process.exit(1);
}

// `webgpu` is a dependency of @kiln/webgpu, not of the workspace root, so
// resolve it from that package first and from the root as a fallback.
function resolveWebgpu() {
  const bases = [join(repoRoot, 'packages/webgpu/package.json'), join(repoRoot, 'package.json')];
  const errors = [];
  for (const base of bases) {
    if (!existsSync(base)) continue;
    try {
      return createRequire(base).resolve('webgpu');
    } catch (err) {
      errors.push(`${base}: ${err.code ?? err.message}`);
    }
  }
  fail(`cannot resolve the 'webgpu' package (run 'pnpm install' first). Tried ${errors.join('; ') || bases.join(', ')}`);
}

// Why might there be no adapter? Only hints; Dawn itself does not say.
function hints() {
  if (process.platform !== 'linux') return '';
  const out = [];
  const icdDirs = ['/usr/share/vulkan/icd.d', '/etc/vulkan/icd.d'];
  const lvp = icdDirs.map((d) => join(d, 'lvp_icd.json')).find((p) => existsSync(p));
  if (!lvp) out.push('no lavapipe Vulkan ICD (lvp_icd.json) found; run scripts/install-vulkan.sh');
  if (process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES) {
    out.push(`VK_ICD_FILENAMES/VK_DRIVER_FILES is set (${process.env.VK_ICD_FILENAMES ?? process.env.VK_DRIVER_FILES})`);
  }
  return out.length ? ` Hints: ${out.join('; ')}.` : '';
}

function withTimeout(promise, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} timed out after ${TIMEOUT_MS / 1000}s`)), TIMEOUT_MS);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function main() {
  process.env.XDG_RUNTIME_DIR ||= '/tmp';

  const entry = resolveWebgpu();
  let mod;
  try {
    mod = await import(pathToFileURL(entry).href);
  } catch (err) {
    fail(`loading ${entry} failed: ${err.message}`);
  }
  const { create, globals } = mod;
  Object.assign(globalThis, globals);

  let adapter;
  try {
    const gpu = create([]);
    adapter = await withTimeout(gpu.requestAdapter(), 'requestAdapter()');
  } catch (err) {
    fail(`requestAdapter() failed: ${err.message}.${hints()}`);
  }
  if (!adapter) fail(`requestAdapter() returned null.${hints()}`);

  // GPUAdapter.info is current; requestAdapterInfo() is what older Dawn builds had.
  let info = adapter.info;
  if (!info && typeof adapter.requestAdapterInfo === 'function') {
    info = await adapter.requestAdapterInfo().catch(() => undefined);
  }
  info ??= {};
  const fields = ['vendor', 'architecture', 'device', 'description']
    .filter((k) => info[k])
    .map((k) => `${k}=${JSON.stringify(info[k])}`);
  const fallback = info.isFallbackAdapter ?? adapter.isFallbackAdapter;
  const timestamps = adapter.features?.has?.('timestamp-query') ?? false;
  fields.push(`isFallbackAdapter=${fallback ?? 'unknown'}`, `timestamp-query=${timestamps}`);

  console.log(`check-webgpu: adapter ${fields.join(' ')}`);
  process.exit(0);
}

main().catch((err) => fail(err?.stack ?? String(err)));

/**
 * pnpm conformance: ONNX's public node tests (test/fixtures/onnx) on every available backend;
 * writes docs/onnx-conformance.md (every test: pass / fail / unsupported and why) and prints
 * the pass rates. `pnpm test` runs all of them on cpu and a seeded sample on webgpu; this runs
 * all of them on webgpu too (about 25 minutes on lavapipe, one pipeline compile per new kernel).
 */
import { writeFileSync } from 'node:fs';
import type { Backend } from '@kiln/core';
import { createCpuBackend } from '@kiln/cpu';
import { createWebGPUBackend, webgpuAvailable } from '@kiln/webgpu';
import { conformanceMarkdown, listTests, nodeTestsDir, type Outcome, runNodeTest } from '../test/onnx/conformance-lib';

const node = nodeTestsDir();
const tests = listTests(node);
const results: Record<string, Outcome[]> = {};
const backends: [string, () => Promise<Backend>][] = [['cpu', createCpuBackend]];
const gpu = await webgpuAvailable();
if (gpu.ok) backends.push(['webgpu', () => createWebGPUBackend()]);
else if (process.env.KILN_REQUIRE_WEBGPU === '1') throw new Error(`KILN_REQUIRE_WEBGPU=1 but no WebGPU adapter: ${gpu.reason}`);
else console.log(`webgpu skipped: ${gpu.reason}`);
for (const [name, make] of backends) {
  const backend = await make();
  const list: Outcome[] = [];
  for (const t of tests) list.push(await runNodeTest(node, t, backend));
  await backend.dispose();
  results[name] = list;
  const pass = list.filter((o) => o.status === 'pass').length;
  console.log(`ONNX conformance [${name}]: ${pass} / ${tests.length} pass (${((100 * pass) / tests.length).toFixed(1)}%)`);
  // written after each backend, so a long webgpu run leaves the cpu table behind if stopped
  writeFileSync(new URL('../docs/onnx-conformance.md', import.meta.url), conformanceMarkdown(results));
}
process.exit(0);

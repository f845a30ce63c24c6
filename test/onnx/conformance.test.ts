/**
 * ONNX's public backend node tests on the cpu backend (and webgpu when available: a seeded
 * sample here, all of them in `pnpm conformance`). Writes docs/onnx-conformance.md when
 * KILN_WRITE_CONFORMANCE=1 and prints the pass rate. The floor below is the measured rate: a
 * change that makes a passing test fail, fail it in a new way, or crash, fails this suite.
 */
import { writeFileSync } from 'node:fs';
import { createCpuBackend } from '@kiln/cpu';
import { BACKENDS } from '../support/backends';
import { conformanceMarkdown, listTests, nodeTestsDir, type Outcome, runNodeTest } from './conformance-lib';

// Measured on the cpu backend; raise it when more tests pass.
const CPU_FLOOR = 943;
/** WebGPU on lavapipe compiles about a pipeline a second: `pnpm test` runs a seeded sample, `pnpm conformance` all. */
const WEBGPU_SAMPLE = 16;

test('ONNX node tests on cpu', async () => {
  const node = nodeTestsDir();
  const tests = listTests(node);
  expect(tests.length).toBe(950);
  const backend = await createCpuBackend();
  const results: Outcome[] = [];
  try {
    for (const t of tests) results.push(await runNodeTest(node, t, backend));
  } finally {
    await backend.dispose();
  }
  const pass = results.filter((o) => o.status === 'pass').length;
  console.log(`ONNX conformance [cpu]: ${pass} / ${tests.length} pass (${((100 * pass) / tests.length).toFixed(1)}%)`);
  if (process.env.KILN_WRITE_CONFORMANCE === '1') writeFileSync(new URL('../../docs/onnx-conformance.md', import.meta.url), conformanceMarkdown({ cpu: results }));
  // No failure is a crash: every refusal is a typed Kiln error or a wrong value named by output.
  expect(results.filter((o) => o.why.startsWith('crash')).map((o) => `${o.test}: ${o.why}`)).toEqual([]);
  expect(pass).toBeGreaterThanOrEqual(CPU_FLOOR);
});

test(`ONNX node tests on webgpu (a seeded sample of ${WEBGPU_SAMPLE}; pnpm conformance runs all)`, async () => {
  const webgpu = BACKENDS.find((b) => b.name === 'webgpu')!;
  const reason = await webgpu.unavailable(); // throws under KILN_REQUIRE_WEBGPU=1
  if (reason) { console.warn(`SKIPPED ONNX node tests on webgpu: ${reason}`); return; }
  const node = nodeTestsDir();
  const cpuBackend = await createCpuBackend();
  // the sample: tests that pass on cpu, picked by a seeded LCG (KILN_ONNX_SEED to explore)
  let s = Number(process.env.KILN_ONNX_SEED ?? 1) >>> 0;
  const tests = listTests(node);
  const sample: string[] = [];
  while (sample.length < WEBGPU_SAMPLE) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    const t = tests[s % tests.length]!;
    if (sample.includes(t)) continue;
    if ((await runNodeTest(node, t, cpuBackend)).status === 'pass') sample.push(t);
  }
  await cpuBackend.dispose();
  const backend = await webgpu.make();
  const failed: string[] = [];
  try {
    for (const t of sample) {
      const o = await runNodeTest(node, t, backend);
      if (o.status !== 'pass') failed.push(`${t}: ${o.status} ${o.why}`);
    }
  } finally {
    await backend.dispose();
  }
  expect(failed).toEqual([]);
});

/**
 * ONNX's public backend node tests on the cpu backend (and webgpu when available: a seeded
 * sample here, all of them in `pnpm conformance`). Writes docs/onnx-conformance.md when
 * KILN_WRITE_CONFORMANCE=1 and prints the pass rate. The floor below is the measured rate: a
 * change that makes a passing test fail, fail it in a new way, or crash, fails this suite.
 */
import { writeFileSync } from 'node:fs';
import { createCpuBackend } from '@kiln/cpu';
import { conformanceMarkdown, listTests, nodeTestsDir, type Outcome, runNodeTest } from './conformance-lib';

// Measured on the cpu backend; raise it when more tests pass.
const CPU_FLOOR = 926;

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

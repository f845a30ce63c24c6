/**
 * The shared op table (test/support/op-cases.ts) on the CPU backend through compileWith, in both
 * GEMM formulations, against the float64 reference. (The cross-backend table in test/parity will
 * take this backend's factory too; this file keeps the CPU backend's own run of it.)
 */
import type { Backend } from '@kiln/core';
import { createCpuBackend, type CpuMode } from '@kiln/cpu';
import { caseName, checkParity, OP_CASES } from '../support/harness';

describe.each(['cpu', 'webasm'] as CpuMode[])('op parity on the cpu backend (%s)', (mode) => {
  const backends: Backend[] = [];
  const make = async () => {
    const b = await createCpuBackend({ mode });
    backends.push(b);
    return b;
  };
  afterAll(async () => { for (const b of backends) await b.dispose(); });
  // NOTE: `large` cases (16.7M elements, for GPU dispatch folding) spend ~35 s each in the
  // harness's input generation and float64 reference; kernels.test.ts runs a huge add directly.
  const table = OP_CASES.filter((c) => !c.large);
  const cases = mode === 'cpu' ? table : table.filter((c) => ['matmul', 'conv2d', 'conv2dTranspose', 'conv2dBackpropFilter', 'avgPool2d', 'dense'].some((n) => caseName(c).startsWith(n)));
  test.each(cases.map((c) => [caseName(c), c] as const))('%s', async (_, c) => {
    await checkParity(c, make);
  });
});

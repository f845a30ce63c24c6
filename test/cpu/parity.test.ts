/**
 * The op-table rows that run GEMMs (matmul, convolutions, and composites built on them) through
 * the CPU backend's gpu.js webasm formulation, against the float64 reference. test/parity runs
 * every row on the default ('auto') CPU backend, which takes the JavaScript GEMM for sizes this
 * small; this file covers the other formulation, and checks on the GEMM engine that every GEMM
 * of each row really ran as webasm.
 */
import { type Backend, buildPlan } from '@kiln/core';
import { type CpuBackend, createCpuBackend } from '@kiln/cpu';
import { buildCase, caseName, checkParity, OP_CASES } from '../support/harness';

/** Ops whose CPU kernels call the GEMM engine. */
const GEMM_OPS = new Set(['matmul', 'conv2d', 'conv2dTranspose', 'conv2dBackpropFilter']);

const usesGemm = (c: (typeof OP_CASES)[number]): boolean => {
  const { g, out } = buildCase(c);
  // A GEMM with an empty operand or result has no work to give the engine (zero-size rows).
  const work = (shape: readonly number[]) => shape.every((d) => d > 0);
  return buildPlan(g, [{ key: 'out', id: out.id }], false, new Map()).steps.some((s) => s.kind === 'op' && GEMM_OPS.has(s.op) && work(s.out.shape) && s.inputs.every((x) => work(x.shape)));
};

const rows = OP_CASES.filter((c) => !c.large && usesGemm(c));

describe('op parity on the cpu backend, webasm GEMMs', () => {
  const backends: Backend[] = [];
  afterAll(async () => { for (const b of backends) await b.dispose(); });

  it('finds the GEMM rows of the table (matmul and every convolution)', () => {
    const ops = new Set(rows.map((c) => c.op));
    for (const op of ['matmul', 'conv2d', 'conv2dTranspose']) expect(ops).toContain(op);
  });

  test.each(rows.map((c) => [caseName(c), c] as const))('%s', async (_, c) => {
    const paths: (() => string | null)[] = [];
    await checkParity(c, async () => {
      const b: CpuBackend = await createCpuBackend({ mode: 'webasm' });
      backends.push(b);
      const prepare = b.gemm.prepare.bind(b.gemm);
      b.gemm.prepare = (m, k, n) => {
        const call = prepare(m, k, n);
        paths.push(() => call.lastPath());
        return call;
      };
      return b;
    });
    expect(paths.length).toBeGreaterThan(0);
    for (const p of paths) expect(p()).not.toBe('js');
  });
});

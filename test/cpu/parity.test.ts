/**
 * The op-table rows that run GEMMs (matmul, convolutions, and composites built on them) through
 * each GEMM formulation of the CPU backend other than the default, against the float64
 * reference: the WebAssembly SIMD GEMM on one thread and split over two threads on every call
 * (minFlopsPerThread 0, so even these small GEMMs cross the worker pool), the JavaScript tiles
 * (the no-SIMD path) and gpu.js webasm. test/parity runs every row on the default ('auto')
 * backend. The GEMM engine is watched to check that each GEMM really ran the formulation asked.
 */
import { type Backend, buildPlan } from '@kiln/core';
import { type CpuBackend, type CpuBackendOptions, createCpuBackend } from '@kiln/cpu';
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

/** Each configuration and the path its GEMM calls must report. */
const CONFIGS: [string, CpuBackendOptions, RegExp][] = [
  ['wasm, one thread', { mode: 'wasm', threads: 1 }, /^wasm(-relaxed)?x1$/],
  ['wasm, two threads on every GEMM', { mode: 'wasm', threads: 2, minFlopsPerThread: 0 }, /^wasm(-relaxed)?x[12]$/],
  ['JavaScript (no SIMD)', { simd: false }, /^js$/],
  ['gpu.js webasm', { mode: 'webasm' }, /^(?!js$)/],
];

describe.each(CONFIGS)('op parity on the cpu backend: %s', (_, options, path) => {
  const backends: Backend[] = [];
  const seen = new Set<string | null>();
  afterAll(async () => { for (const b of backends) await b.dispose(); });

  it('finds the GEMM rows of the table (matmul and every convolution)', () => {
    const ops = new Set(rows.map((c) => c.op));
    for (const op of ['matmul', 'conv2d', 'conv2dTranspose']) expect(ops).toContain(op);
  });

  test.each(rows.map((c) => [caseName(c), c] as const))('%s', async (_, c) => {
    const paths: (() => string | null)[] = [];
    await checkParity(c, async () => {
      const b: CpuBackend = await createCpuBackend(options);
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
    for (const p of paths) expect(p()).toMatch(path);
    for (const p of paths) seen.add(p());
  });

  if (options.minFlopsPerThread === 0) {
    test('some GEMMs of these rows ran split over two threads', () => expect([...seen]).toContainEqual(expect.stringMatching(/x2$/)));
  }
});

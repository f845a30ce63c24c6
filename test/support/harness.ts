/** Shared machinery for table-driven tests: seeded inputs, building a case, comparing results. */
import { type Backend, compileWith, evaluate, type FeedValue, Graph, mulberry32, type Tensor } from '@kiln/core';
import { type Gen, type OpCase, OP_CASES, TOLERANCE } from './op-cases';

export function generate(gen: Gen, n: number, rand: () => number): Float64Array {
  if (Array.isArray(gen)) return Float64Array.from(gen);
  const gauss = () => Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
  const one: () => number = typeof gen === 'object' ? () => Math.floor(rand() * gen.index) : {
    normal: gauss,
    positive: () => 0.5 + 1.5 * rand(),
    unit: rand,
    awayFromZero: () => (rand() < 0.5 ? -1 : 1) * (0.3 + 1.2 * rand()),
    int: () => Math.floor(rand() * 11) - 5,
    bool: () => (rand() < 0.5 ? 1 : 0),
  }[gen];
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = one();
  return out;
}

export interface BuiltCase {
  readonly g: Graph;
  readonly xs: Tensor[];
  readonly out: Tensor;
  readonly feeds: Record<string, FeedValue>;
}

export function caseName(c: OpCase): string {
  return c.label ? `${c.op} (${c.label})` : c.op;
}

export function buildCase(c: OpCase, seed = 1): BuiltCase {
  const g = new Graph({ seed });
  const rand = mulberry32(0x5eed + seed * 7919 + caseName(c).length * 31 + caseName(c).charCodeAt(0));
  const xs: Tensor[] = [];
  const feeds: Record<string, FeedValue> = {};
  c.inputs.forEach((inp, k) => {
    const dtype = inp.dtype ?? 'f32';
    const n = inp.shape.reduce((a, b) => a * b, 1);
    const v = generate(inp.gen ?? 'normal', n, rand);
    const name = `x${k}`;
    xs.push(g.input(name, inp.shape, dtype));
    feeds[name] = dtype === 'f32' ? Float32Array.from(v) : dtype === 'i32' ? Int32Array.from(v) : Uint8Array.from(v);
  });
  return { g, xs, out: c.build(g, ...xs), feeds };
}

/** |a - e| <= atol + rtol * |e|; NaN only where NaN is expected; infinities equal. */
export function closeMismatch(actual: ArrayLike<number>, expected: ArrayLike<number>, atol: number, rtol: number): string | null {
  if (actual.length !== expected.length) return `length ${actual.length} vs expected ${expected.length}`;
  for (let i = 0; i < actual.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    if (Number.isNaN(e) || Number.isNaN(a)) {
      if (Number.isNaN(e) !== Number.isNaN(a)) return `[${i}] got ${a}, expected ${e}`;
      continue;
    }
    if (!Number.isFinite(e) || !Number.isFinite(a)) {
      if (a !== e) return `[${i}] got ${a}, expected ${e}`;
      continue;
    }
    if (Math.abs(a - e) > atol + rtol * Math.abs(e)) return `[${i}] got ${a}, expected ${e} (|diff| ${Math.abs(a - e).toExponential(2)} > ${(atol + rtol * Math.abs(e)).toExponential(2)})`;
  }
  return null;
}

export function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, atol = TOLERANCE.atol, rtol = TOLERANCE.rtol, what = ''): void {
  const m = closeMismatch(actual, expected, atol, rtol);
  if (m) throw new Error(`${what}: ${m}`);
}

/** Run one case on a backend and compare with the float64 reference. */
export async function checkParity(c: OpCase, makeBackend: () => Promise<Backend>): Promise<void> {
  const { g, out, feeds } = buildCase(c);
  const want = evaluate(g, feeds, { out }).out;
  const exe = await compileWith(g, await makeBackend());
  try {
    const got = (await exe.run(feeds, { out })).out;
    if (got.shape.join() !== want.shape.join()) throw new Error(`${caseName(c)}: shape [${got.shape}] vs reference [${want.shape}]`);
    if (got.dtype !== want.dtype) throw new Error(`${caseName(c)}: dtype ${got.dtype} vs reference ${want.dtype}`);
    expectClose(got.data, want.data, c.atol ?? TOLERANCE.atol, c.rtol ?? TOLERANCE.rtol, caseName(c));
  } finally {
    await exe.dispose();
  }
}

/** Inputs of a case whose gradients are checked. */
export function gradInputs(c: OpCase, b: BuiltCase): number[] {
  if (c.grad === false) return [];
  if (Array.isArray(c.grad)) return [...c.grad];
  return b.xs.flatMap((x, k) => (x.dtype === 'f32' ? [k] : []));
}

export const differentiableCases = (): OpCase[] =>
  OP_CASES.filter((c) => c.grad !== false && !c.large && c.inputs.some((i) => (i.dtype ?? 'f32') === 'f32') && buildCase(c).out.dtype === 'f32');

export { OP_CASES, TOLERANCE };

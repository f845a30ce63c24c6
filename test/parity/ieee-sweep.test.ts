// Every elementwise primitive, on every backend, over a sweep of edge inputs (tiny, huge,
// subnormal, +-0, +-Inf, NaN, near 1) against the float64 reference, within a few ulp
// (relative). The list comes from the spec table: a new elementwise primitive is swept
// without a line here (unless it needs attributes: SWEEP_ATTRS says which).
import { type Backend, compileWith, createReferenceBackend, type DType, ELEMENTWISE_NAMES, evaluate, Graph, mulberry32, spec, type Tensor } from '@kiln/core';
import { BACKENDS } from '../support/backends';

/** Attribute sets for primitives that take some, each swept (a required one missing fails the sweep). */
const SWEEP_ATTRS: Readonly<Record<string, Record<string, unknown>[]>> = {
  leakyRelu: [{ alpha: 0.1 }],
  elu: [{ alpha: 1 }],
  cast: [{ dtype: 'i32' }, { dtype: 'bool' }, { dtype: 'f32' }],
};

/**
 * Error budget in ulp of the expected value (worst seen on lavapipe besides gelu: sigmoid 3.5,
 * softplus 3.0, tanh 2.9, exp 2.9, pow 2.8, sin 2.1; reference and cpu within 0.75).
 * A primitive that needs more gets an entry here with its reason.
 */
const ULP_BUDGET: Readonly<Record<string, number>> = {
  // erfc's fitted tail (2.6 ulp) times exp and x: 4.6 ulp seen at x = -2.2; results just above
  // the smallest normal (x ~ -13) come from a subnormal ndtr(x), 7.3 ulp.
  gelu: 8,
};
const DEFAULT_ULP = 4;

/** Inputs a primitive is not held to, and why (none at present). */
const MAX_ABS_INPUT: Readonly<Record<string, number>> = {};

const FLT_MIN = 2 ** -126;
const EDGES = [0, 1e-45, 1e-40, 1e-30, 1e-7, 1e-3, 0.1, 0.5, 0.99999994, 1, 1.0000001, 2, Math.PI, 10, 50, 88, 89, 100, 1e10, 1e30, 3e38, Infinity];
const VALUES = [...EDGES, ...EDGES.map((v) => -v), NaN].map(Math.fround);
/**
 * Unary ops also get seeded random magnitudes over the whole f32 range (log-uniform, both
 * signs) and f32 neighbours of multiples of pi/2 (hard cases for argument reduction).
 */
const rand = mulberry32(0x1eee);
const UNARY_VALUES = [
  ...VALUES,
  ...Array.from({ length: 3000 }, () => Math.fround((rand() < 0.5 ? -1 : 1) * 10 ** (rand() * 83 - 45))),
  ...Array.from({ length: 500 }, () => Math.fround(Math.round(rand() * 2 ** (rand() * 40)) * Math.PI / 2)),
];

/** Error in ulp of `want` (a float64 result rounded to f32); subnormal results are allowed FLT_MIN absolute (devices may flush). */
function ulpError(got: number, wantF64: number): number {
  const want = Math.fround(wantF64);
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) === Number.isNaN(got) ? 0 : Infinity;
  if (!Number.isFinite(want) || !Number.isFinite(got)) return got === want ? 0 : Infinity;
  const a = Math.abs(want);
  const ulp = a < FLT_MIN ? FLT_MIN : 2 ** (Math.floor(Math.log2(a)) - 23);
  return Math.abs(got - wantF64) / ulp;
}

interface Swept { readonly op: string; readonly name: string; readonly label: string; readonly out: Tensor; readonly empty: Tensor; readonly inputs: string[]; readonly dtypes: DType[] }

function feedOf(dtype: DType, values: number[]): Float32Array | Uint8Array {
  return dtype === 'bool' ? Uint8Array.from(values, (v) => (v !== 0 ? 1 : 0)) : Float32Array.from(values);
}

/** One graph holding every swept primitive over the cross product of VALUES (bool inputs: 0/1). */
function buildSweep(): { g: Graph; swept: Swept[]; feeds: Record<string, Float32Array | Uint8Array> } {
  const g = new Graph();
  const swept: Swept[] = [];
  const feeds: Record<string, Float32Array | Uint8Array> = {};
  for (const name of ELEMENTWISE_NAMES) {
    const s = spec(name);
    // Elementwise ops without inputs (fill, random, dimSize) have nothing to sweep: their op-table
    // rows feed -inf/NaN fills and compare random numbers bit for bit.
    const arity = s.arity as number;
    if (arity === 0) continue;
    const variants = SWEEP_ATTRS[name] ?? [{}];
    variants.forEach((attrs, v) => {
      const key0 = v === 0 ? name : `${name}_${v}`;
      const label = variants.length > 1 ? `${name} ${JSON.stringify(attrs)}` : name;
      if (!s.attrs.safeParse(attrs).success) throw new Error(`ieee sweep: '${name}' needs attributes: add a SWEEP_ATTRS entry`);
      // The first dtype assignment the op accepts: all f32, all bool, or a bool condition.
      const candidates: DType[][] = [Array(arity).fill('f32'), Array(arity).fill('bool'), ['bool', ...Array(arity - 1).fill('f32')]];
      const dtypes = candidates.find((ds) => {
        try { s.infer(ds.map((dtype) => ({ shape: [], dtype })), attrs as never); return true; } catch { return false; }
      });
      if (!dtypes) throw new Error(`ieee sweep: no f32/bool inputs fit '${name}'`);
      // Cross product of the inputs' values, flattened: input k varies with stride n^(arity-1-k).
      const axes = dtypes.map((d) => (d === 'bool' ? [0, 1] : arity === 1 ? UNARY_VALUES : VALUES));
      const total = axes.reduce((p, a) => p * a.length, 1);
      const inputs = dtypes.map((d, k) => {
        const inner = axes.slice(k + 1).reduce((p, a) => p * a.length, 1);
        const values = Array.from({ length: total }, (_, i) => axes[k]![Math.floor(i / inner) % axes[k]!.length]!);
        const key = `${key0}_${k}`;
        feeds[key] = feedOf(d, values);
        return key;
      });
      const xs = inputs.map((key, k) => g.input(key, [total], dtypes[k]));
      // The same op on zero-size inputs (issue 10 §4 E): an empty result, on every backend.
      const empties = dtypes.map((d, k) => {
        feeds[`${key0}_${k}_empty`] = feedOf(d, []);
        return g.input(`${key0}_${k}_empty`, [0], d);
      });
      swept.push({ op: name, name: key0, label, out: g.addNode(name, xs, attrs), empty: g.addNode(name, empties, attrs), inputs, dtypes });
    });
  }
  return { g, swept, feeds };
}

const { g, swept, feeds } = buildSweep();
const fetches = Object.fromEntries(swept.flatMap((s) => [[s.name, s.out], [`${s.name}_empty`, s.empty]]));
const want = evaluate(g, feeds, fetches);

const backends: { name: string; unavailable: () => Promise<string | null>; make: () => Promise<Backend> }[] = [
  { name: 'reference', unavailable: async () => null, make: async () => createReferenceBackend() },
  ...BACKENDS,
];

describe.each(backends.map((b) => [b.name, b] as const))('IEEE sweep of elementwise primitives [%s]', (_, b) => {
  let got: Record<string, { data: ArrayLike<number>; shape: readonly number[] }> | null = null;
  let skip: string | null = null;
  beforeAll(async () => {
    skip = await b.unavailable();
    if (skip) return void console.warn(`SKIPPED ieee sweep on ${b.name}: ${skip}`);
    const backend = await b.make();
    const exe = await compileWith(g, backend);
    try {
      got = await exe.run(feeds, fetches);
    } finally {
      await exe.dispose();
      await backend.dispose();
    }
  });

  test.each(swept.map((s) => [s.label, s] as const))('%s', (_, s) => {
    if (skip) return;
    const { name, op } = s;
    const a = got![name]!.data, e = want[name]!.data;
    const budget = ULP_BUDGET[op] ?? DEFAULT_ULP;
    const exact = want[name]!.dtype !== 'f32';
    const bad: string[] = [];
    const limit = MAX_ABS_INPUT[op] ?? Infinity;
    for (let i = 0; i < e.length && bad.length < 5; i++) {
      if (s.inputs.some((key) => Math.abs(feeds[key]![i]!) > limit)) continue;
      const err = exact ? (Object.is(a[i], e[i]) || a[i] === e[i] ? 0 : Infinity) : ulpError(a[i]!, e[i]!);
      if (err > budget) {
        const args = s.inputs.map((key) => feeds[key]![i]).join(', ');
        bad.push(`${op}(${args}) = ${a[i]}, want ${e[i]} (${err.toPrecision(3)} ulp > ${budget})`);
      }
    }
    expect(bad).toEqual([]);
    expect([...got![`${name}_empty`]!.shape]).toEqual([0]);
  });
});

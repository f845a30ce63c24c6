// The WGSL expression renderer: literals and sharing as text, then every expression function
// evaluated on the device against core's expression interpreter, with NaN and infinities.
import { compileWith, E, type Expr, type EType, exprEvaluator, type Fn, Graph } from '@kiln/core';
import { literal, renderExpr } from '@kiln/webgpu';
import { describeGpu, expectClose, PlanBuilder, runPlan, useBackend } from './support';

describe('renderer text', () => {
  test('NaN and infinities come from run-time helpers (WGSL has no literals for them)', () => {
    expect(literal(NaN, 'f32')).toBe('kiln_nan()');
    expect(literal(Infinity, 'f32')).toBe('kiln_inf()');
    expect(literal(-Infinity, 'f32')).toBe('(-kiln_inf())');
    expect(literal(1e39, 'f32')).toBe('kiln_inf()'); // overflows f32
    expect(literal(-0, 'f32')).toBe('(-0.0f)');
    expect(literal(2, 'f32')).toBe('2.0f');
    expect(literal(1e-7, 'f32')).toMatch(/^1\.0000000116860974e-7f$/);
  });

  test('integer literals: i32 minimum, u32 wrap, bool', () => {
    expect(literal(-2147483648, 'i32')).toBe('i32(-2147483648)');
    expect(literal(-3, 'i32')).toBe('(-3i)');
    expect(literal(-1, 'u32')).toBe('4294967295u');
    expect(literal(1, 'bool')).toBe('true');
  });

  test('one let per distinct node: a shared subexpression is computed once', () => {
    const x = E.arg(0, 'f32');
    const s = E.exp(x);
    const r = renderExpr(E.add(E.mul(s, s), s), (i) => `a${i}`);
    expect(r.lines).toEqual(['let v0 = kiln_exp(a0);', 'let v1 = kiln_mul(v0, v0);', 'let v2 = kiln_add(v1, v0);']);
    expect(r.value).toBe('v2');
  });

  test('literal-only subtrees are folded on the host (WGSL rejects overflowing constant expressions)', () => {
    const x = E.arg(0, 'f32');
    expect(renderExpr(E.add(x, E.mul(E.lit(3e38), E.lit(10))), () => 'a').lines).toEqual(['let v0 = kiln_add(a, kiln_inf());']);
    expect(renderExpr(E.div(E.lit(7, 'i32'), E.lit(0, 'i32')), () => 'a').value).toBe('0i');
  });

  test('f32 arithmetic is bit-tested (ieee.wgsl) exactly where a finite-math fold could change Inf/NaN', () => {
    const [x, y] = [E.arg(0, 'f32'), E.arg(1, 'f32')];
    const f = E.lit(0, 'f32');
    const one = (e: Expr) => renderExpr(e, (i) => `a${i}`).lines.at(-1);
    expect(one(E.mul(x, E.lit(2)))).toBe('let v0 = (a0 * 2.0f);'); // x * 2 -> anything keeps Inf/NaN
    expect(one(E.add(x, E.lit(-1)))).toBe('let v0 = (a0 + (-1.0f));');
    expect(one(E.mul(x, y))).toBe('let v0 = (a0 * a1);'); // independent operands
    expect(one(E.mul(x, f))).toBe('let v0 = kiln_mul(a0, 0.0f);'); // x * 0 -> 0
    expect(one(E.div(x, f))).toBe('let v0 = kiln_div(a0, 0.0f);');
    expect(one(E.add(x, E.lit(Infinity)))).toBe('let v0 = kiln_add(a0, kiln_inf());');
    expect(one(E.sub(x, E.arg(0, 'f32')))).toBe('let v0 = kiln_sub(a0, a0);'); // x - x -> 0
    expect(one(E.sub(E.add(x, y), y))).toBe('let v1 = kiln_sub(v0, a1);'); // (x + y) - y -> x
    expect(one(E.mul(x, E.cast(E.gt(y, f), 'f32')))).toMatch(/^let v\d = kiln_mul\(a0, v\d\);$/); // x * f32(c) -> select(c, x, 0)
  });

  test('isnan is a bit test and != is not an ordered compare', () => {
    const x = E.arg(0, 'f32');
    expect(renderExpr(E.isnan(x), () => 'a').lines[0]).toBe('let v0 = kiln_isnan(a);');
    expect(renderExpr(E.ne(x, x), () => 'a').lines[0]).toBe('let v0 = (!(a == a));');
  });
});

const F32 = [-2.5, -1, -0, 0, 0.5, 1, 3, 100, -100, NaN, Infinity, -Infinity];
const SMALL = [-3, -1.25, -0.5, 0, 0.25, 1, 2.75, NaN];
const POSITIVE = [0.25, 0.5, 1, 2, 7.5];
const I32 = [-2147483648, -7, -1, 0, 1, 3, 2147483647];

/** Evaluate `f` over every pair (x, y) of values (broadcast [n,1] x [1,m]) on the device and in core. */
async function checkBinary(backend: ReturnType<ReturnType<typeof useBackend>>, build: (a: Expr, b: Expr) => Expr, t: EType, xs: number[], ys: number[], out: 'f32' | 'i32' | 'bool', tol = 1e-6) {
  const p = new PlanBuilder();
  const dt = t === 'u32' ? 'i32' : t;
  const a = p.feed('a', [xs.length, 1], dt as 'f32' | 'i32');
  const b = p.feed('b', [1, ys.length], dt as 'f32' | 'i32');
  const arg = (i: number) => (t === 'u32' ? E.cast(E.arg(i, 'i32'), 'u32') : E.arg(i, t));
  let e = build(arg(0), arg(1));
  if (e.t === 'u32') e = E.cast(e, 'i32');
  const y = p.elementwise(e, [a, b], [xs.length, ys.length], out);
  p.fetch('y', y);
  const mk = (v: number[]) => (dt === 'f32' ? Float32Array.from(v) : Int32Array.from(v));
  const got = (await runPlan(backend, p.build(), { a: mk(xs), b: mk(ys) })).y!;
  const f = exprEvaluator(e);
  const want: number[] = [];
  for (const x of xs) for (const v of ys) want.push(f([dt === 'f32' ? Math.fround(x) : x, dt === 'f32' ? Math.fround(v) : v], 0, 0));
  expectClose(got, out === 'f32' ? want.map(Math.fround) : want, tol, tol);
}

describeGpu('renderer on the device', () => {
  const backend = useBackend();

  // NOTE: every row has every argument: jest passes a `done` callback to a test function
  // that declares more parameters than its row has, and then waits for it.
  const binaryF32: [Fn, number[], number[], 'f32' | 'bool', number][] = [
    ['add', F32, F32, 'f32', 1e-6], ['sub', F32, F32, 'f32', 1e-6], ['mul', F32, F32, 'f32', 1e-6], ['div', F32, F32, 'f32', 1e-6],
    ['lt', F32, F32, 'bool', 0], ['le', F32, F32, 'bool', 0], ['gt', F32, F32, 'bool', 0], ['ge', F32, F32, 'bool', 0],
    ['eq', F32, F32, 'bool', 0], ['ne', F32, F32, 'bool', 0], ['pow', POSITIVE, SMALL.filter((v) => !Number.isNaN(v)), 'f32', 1e-5],
  ];
  test.each(binaryF32)('f32 %s over NaN, infinities and signed zeros', (f, xs, ys, out, tol) =>
    checkBinary(backend(), (a, b) => E.call(f, a, b), 'f32', xs, ys, out, tol));

  const unary: [Fn, number[], number][] = [
    ['neg', F32, 0], ['abs', F32, 0], ['exp', [...SMALL, 89, 100, -Infinity, Infinity], 1e-5], ['log', [...POSITIVE, 0, -1, Infinity, NaN], 1e-5],
    ['sqrt', [...POSITIVE, 0, -1, Infinity, NaN], 1e-6], ['sin', SMALL, 1e-5], ['cos', SMALL, 1e-5],
    ['expm1', [...SMALL, 1e-7, -1e-7, 89, -Infinity, Infinity], 1e-6], ['log1p', [...POSITIVE, 1e-7, -1e-7, -1, -2, Infinity, NaN], 1e-6],
    ['erf', [...SMALL, 1e-7, 3, -5, Infinity, -Infinity], 1e-6], ['erfc', [...SMALL, 1e-7, 3, 9, -5, Infinity, -Infinity], 1e-6], ['ndtr', [...SMALL, -3, -12, 5, Infinity, -Infinity], 1e-6],
    ['floor', F32, 0], ['isnan', F32, 0],
  ];
  test.each(unary)('f32 %s', (f, xs, tol) =>
    checkBinary(backend(), (a) => E.call(f, a), 'f32', xs, [0], f === 'isnan' ? 'bool' : 'f32', tol));

  const ints: Fn[] = ['add', 'sub', 'mul', 'max', 'min', 'lt', 'eq', 'ne'];
  test.each(ints)('i32 %s wraps like the reference', (f) =>
    checkBinary(backend(), (a, b) => E.call(f, a, b), 'i32', I32, I32, ['lt', 'eq', 'ne'].includes(f) ? 'bool' : 'i32', 0));

  test('i32 neg/abs wrap; division truncates, by zero gives 0 (core toDType)', async () => {
    await checkBinary(backend(), (a) => E.neg(a), 'i32', I32, [0], 'i32', 0);
    await checkBinary(backend(), (a, b) => E.div(a, b), 'i32', I32, [-3, -1, 2, 7], 'i32', 0);
    const p = new PlanBuilder();
    const a = p.feed('a', [3], 'i32');
    p.fetch('y', p.elementwise(E.div(E.arg(0, 'i32'), E.lit(0, 'i32')), [a], [3], 'i32'));
    expect(Array.from((await runPlan(backend(), p.build(), { a: Int32Array.of(5, -5, 0) })).y!)).toEqual([0, 0, 0]);
  });

  const u32: Fn[] = ['xor', 'add', 'mul'];
  test.each(u32)('u32 %s', (f) => checkBinary(backend(), (a, b) => E.call(f, a, b), 'u32', I32, I32, 'i32', 0));
  test.each([['shr', 5], ['shl', 13], ['shr', 28]] as [Fn, number][])('u32 %s by %d', (f, n) =>
    checkBinary(backend(), (a) => E.call(f, a, E.lit(n, 'u32')), 'u32', I32, [0], 'i32', 0));

  test('pcg is core pcgHash bit for bit', () =>
    checkBinary(backend(), (a) => E.call('pcg', a), 'u32', [...I32, 12345, 0x68bc21eb | 0], [0], 'i32', 0));

  test('logic on bools and select', async () => {
    const p = new PlanBuilder();
    const a = p.feed('a', [4], 'bool'), b = p.feed('b', [4], 'bool');
    const [x, y] = [E.arg(0, 'bool'), E.arg(1, 'bool')];
    p.fetch('and', p.elementwise(E.and(x, y), [a, b], [4], 'bool'));
    p.fetch('or', p.elementwise(E.or(x, y), [a, b], [4], 'bool'));
    p.fetch('not', p.elementwise(E.call('not', x), [a], [4], 'bool'));
    p.fetch('sel', p.elementwise(E.select(x, E.lit(2, 'f32'), E.lit(NaN, 'f32')), [a], [4], 'f32'));
    const r = await runPlan(backend(), p.build(), { a: Uint8Array.of(0, 0, 1, 1), b: Uint8Array.of(0, 1, 0, 1) });
    expect(Array.from(r.and!)).toEqual([0, 0, 0, 1]);
    expect(Array.from(r.or!)).toEqual([0, 1, 1, 1]);
    expect(Array.from(r.not!)).toEqual([1, 1, 0, 0]);
    expect(Array.from(r.sel!)).toEqual([NaN, NaN, 2, 2]);
  });

  test('casts: f32 -> i32 truncates and wraps, NaN/Inf -> 0; to bool, NaN is true', async () => {
    const xs = [1.7, -1.7, 3e9, -3e9, NaN, Infinity, 0.5, -0];
    const p = new PlanBuilder();
    const a = p.feed('a', [xs.length]);
    const x = E.arg(0, 'f32');
    p.fetch('i', p.elementwise(E.cast(x, 'i32'), [a], [xs.length], 'i32'));
    p.fetch('b', p.elementwise(E.cast(x, 'bool'), [a], [xs.length], 'bool'));
    p.fetch('f', p.elementwise(E.cast(E.cast(x, 'bool'), 'f32'), [a], [xs.length], 'f32'));
    const r = await runPlan(backend(), p.build(), { a: Float32Array.from(xs) });
    const f = exprEvaluator(E.cast(x, 'i32'));
    expect(Array.from(r.i!)).toEqual(xs.map((v) => f([Math.fround(v)], 0, 0)));
    expect(Array.from(r.b!)).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
    expect(Array.from(r.f!)).toEqual([1, 1, 1, 1, 1, 1, 1, 0]);
  });

  test('index and run counter leaves (random numbers) match the reference', async () => {
    const p = new PlanBuilder();
    const e = E.cast(E.call('pcg', E.call('xor', E.index(), E.call('pcg', E.step()))), 'i32');
    p.fetch('y', p.elementwise(e, [], [300], 'i32'));
    const got = (await runPlan(backend(), p.build(), {}, 7)).y!;
    const f = exprEvaluator(e);
    expect(Array.from(got)).toEqual(Array.from({ length: 300 }, (_, i) => f([], i, 7)));
  });

  test('NaN propagates through relu, maximum, minimum, max-reduce and softmax; large exps stay finite', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [4]);
    const big = g.input('big', [2, 2]);
    const one = g.constant([1, 1, 1, 1]);
    const fetches = {
      relu: x.relu(), max: x.maximum(one), min: x.minimum(one), rmax: x.max(), soft: x.softmax(),
      softBig: big.softmax(), lse: big.logSumExp({ axes: [1] }),
    };
    const exe = await compileWith(g, backend());
    try {
      const r = await exe.run({ x: Float32Array.of(-1, 0, 2, NaN), big: Float32Array.of(1e4, 1e4, 88, -1e4) }, fetches);
      expect(Array.from(r.relu.data)).toEqual([0, 0, 2, NaN]);
      expect(Array.from(r.max.data)).toEqual([1, 1, 2, NaN]);
      expect(Array.from(r.min.data)).toEqual([-1, 0, 1, NaN]);
      expect(Array.from(r.rmax.data)).toEqual([NaN]);
      expect(Array.from(r.soft.data)).toEqual([NaN, NaN, NaN, NaN]);
      expectClose(r.softBig.data, [0.5, 0.5, 1, 0]);
      expectClose(r.lse.data, [1e4 + Math.LN2, 88]);
    } finally {
      await exe.dispose();
    }
  });
});

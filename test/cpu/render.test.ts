/** The JavaScript expression renderer: IEEE specials, i32 wrapping, u32 hashing, literals, DAG sharing. */
import { E, type Expr, pcgHash, randomValue, spec } from '@kiln/core';
import { compileScalar, literal, renderExpr } from '@kiln/cpu';

const f = (v: number) => E.lit(v, 'f32');
const x = E.arg(0, 'f32'), y = E.arg(1, 'f32');
const i = E.arg(0, 'i32'), j = E.arg(1, 'i32');
const run = (e: Expr, ...args: number[]) => compileScalar(e, args.length)(args);

describe('cpu renderer: f32', () => {
  test('NaN and Inf propagate through arithmetic and math', () => {
    expect(run(E.add(x, y), NaN, 1)).toBeNaN();
    expect(run(E.mul(x, y), Infinity, 0)).toBeNaN();
    expect(run(E.div(x, y), 1, 0)).toBe(Infinity);
    expect(run(E.div(x, y), -1, 0)).toBe(-Infinity);
    expect(run(E.exp(x), Infinity)).toBe(Infinity);
    expect(run(E.exp(x), -Infinity)).toBe(0);
    expect(run(E.log(x), -1)).toBeNaN();
    expect(run(E.log(x), 0)).toBe(-Infinity);
    expect(run(E.sqrt(x), -1)).toBeNaN();
  });

  test('NaN-propagating max/min and IEEE comparisons', () => {
    expect(run(E.maxNaN(x, y), NaN, 1)).toBeNaN();
    expect(run(E.maxNaN(x, y), 1, NaN)).toBeNaN();
    expect(run(E.minNaN(x, y), 2, 3)).toBe(2);
    expect(run(E.lt(x, y), NaN, 1)).toBe(false);
    expect(run(E.ne(x, y), NaN, NaN)).toBe(true);
    expect(run(E.eq(x, y), NaN, NaN)).toBe(false);
    expect(run(E.isnan(x), NaN)).toBe(true);
  });

  test('literals: NaN, infinities, -0, negatives', () => {
    expect(literal(NaN, 'f32')).toBe('NaN');
    expect(literal(-Infinity, 'f32')).toBe('(-Infinity)');
    expect(literal(-0, 'f32')).toBe('(-0)');
    expect(Object.is(run(E.mul(f(-0), f(1))), -0)).toBe(true);
    expect(run(E.sub(f(1), f(-2)))).toBe(3);
    expect(literal(2 ** 32 + 5, 'u32')).toBe('5');
    expect(literal(1, 'bool')).toBe('true');
  });

  test('select evaluates the chosen side, casts of bool are 0/1', () => {
    const e = E.select(E.gt(x, f(0)), x, E.neg(x));
    expect(run(e, -3)).toBe(3);
    expect(run(E.cast(E.gt(x, f(0)), 'f32'), 2)).toBe(1);
    expect(run(E.cast(E.gt(x, f(0)), 'i32'), -2)).toBe(0);
  });
});

describe('cpu renderer: i32 wraps like 32-bit hardware', () => {
  const MAX = 2147483647, MIN = -2147483648;
  test('add, sub, mul, neg, abs wrap modulo 2^32', () => {
    expect(run(E.add(i, j), MAX, 1)).toBe(MIN);
    expect(run(E.sub(i, j), MIN, 1)).toBe(MAX);
    expect(run(E.mul(i, j), 65536, 65536)).toBe(0);
    expect(run(E.mul(i, j), 123456789, 987654321)).toBe(Math.imul(123456789, 987654321));
    expect(run(E.neg(i), MIN)).toBe(MIN);
    expect(run(E.call('abs', i), MIN)).toBe(MIN);
  });

  test('division truncates toward zero; x/0 is 0 (the reference\'s toDType)', () => {
    expect(run(E.div(i, j), 7, 2)).toBe(3);
    expect(run(E.div(i, j), -7, 2)).toBe(-3);
    expect(run(E.div(i, j), 7, 0)).toBe(0);
    expect(run(E.div(i, j), MIN, -1)).toBe(MIN);
  });

  test('casts f32 -> i32 truncate and wrap; NaN and Inf give 0', () => {
    expect(run(E.cast(x, 'i32'), 2.9)).toBe(2);
    expect(run(E.cast(x, 'i32'), -2.9)).toBe(-2);
    expect(run(E.cast(x, 'i32'), 2 ** 31)).toBe(MIN);
    expect(run(E.cast(x, 'i32'), NaN)).toBe(0);
    expect(run(E.cast(x, 'i32'), Infinity)).toBe(0);
    expect(run(E.cast(i, 'f32'), -5)).toBe(-5);
  });
});

describe('cpu renderer: u32 and random numbers', () => {
  test('pcg equals core\'s pcgHash bit for bit', () => {
    const h = compileScalar(E.call('pcg', E.arg(0, 'u32')), 1);
    for (const v of [0, 1, 2, 0x7fffffff, 0x80000000, 0xffffffff, 123456789, 0xdeadbeef]) expect(h([v])).toBe(pcgHash(v));
    for (let k = 0; k < 1000; k++) {
      const v = (Math.imul(k, 2654435761) ^ (k << 7)) >>> 0;
      expect(h([v])).toBe(pcgHash(v));
    }
  });

  test('u32 ops stay in [0, 2^32)', () => {
    const a = E.arg(0, 'u32'), b = E.arg(1, 'u32');
    expect(run(E.add(a, b), 0xffffffff, 2)).toBe(1);
    expect(run(E.sub(a, b), 0, 1)).toBe(0xffffffff);
    expect(run(E.mul(a, b), 0xffffffff, 0xffffffff)).toBe(1);
    expect(run(E.call('xor', a, b), 0xf0f0f0f0, 0x0f0f0f0f)).toBe(0xffffffff);
    expect(run(E.call('shr', a, E.lit(28, 'u32')), 0xf0000000)).toBe(15);
    expect(run(E.call('shl', a, E.lit(31, 'u32')), 3)).toBe(0x80000000);
  });

  test('the random op\'s expression (from its spec) reproduces the reference stream', () => {
    for (const dist of ['uniform', 'normal'] as const) {
      const g = compileScalar(spec('random').expr!([], { shape: [4], dist, a: -1, b: 2, seed: 42 }, 'f32'), 0);
      for (let idx = 0; idx < 200; idx++) {
        for (const step of [0, 5, 0xffffffff]) {
          const want = randomValue(dist, -1, 2, 42, step, idx);
          expect(Math.abs((g([], idx, step) as number) - want)).toBeLessThanOrEqual(1e-12 * (1 + Math.abs(want)));
        }
      }
    }
  });
});

test('a shared DAG node is computed once', () => {
  const s = E.exp(x);
  const { lines } = renderExpr(E.add(E.mul(s, s), s), (k) => `a${k}`);
  expect(lines.filter((l) => l.includes('H.exp('))).toHaveLength(1);
});

// Hand-computed values against the float64 reference evaluator.
import { evaluate, Graph, ReferenceSession } from '@kiln/core';
import { buildCase, caseName, expectClose, OP_CASES } from '../support/harness';

describe.each(OP_CASES.filter((c) => c.expect).map((c) => [caseName(c), c] as const))('reference %s', (_, c) => {
  it('matches the hand-computed values', () => {
    const { g, out, feeds } = buildCase(c);
    const r = evaluate(g, feeds, { out }).out;
    expectClose(r.data, c.expect!, 1e-12, 1e-12, caseName(c));
  });
});

describe('random ops', () => {
  it('are deterministic per seed and step, fresh across steps, with the right moments', () => {
    const g = new Graph({ seed: 3 });
    const u = g.randomUniform([20000], { low: 2, high: 4 });
    const n = g.randomNormal([20000], { mean: -1, std: 0.5 });
    const s = new ReferenceSession(g);
    const a = s.run({}, { u, n });
    const b = s.run({}, { u, n });
    const mean = (d: Float64Array) => d.reduce((p, q) => p + q, 0) / d.length;
    const std = (d: Float64Array) => Math.sqrt(mean(d.map((v) => (v - mean(d)) ** 2)));
    expect(mean(a.u.data)).toBeCloseTo(3, 1);
    expect(Math.min(...a.u.data)).toBeGreaterThanOrEqual(2);
    expect(Math.max(...a.u.data)).toBeLessThan(4);
    expect(mean(a.n.data)).toBeCloseTo(-1, 1);
    expect(std(a.n.data)).toBeCloseTo(0.5, 1);
    expect(a.u.data[0]).not.toBe(b.u.data[0]);
    const again = new ReferenceSession(g).run({}, { u });
    expect(Array.from(again.u.data.slice(0, 5))).toEqual(Array.from(a.u.data.slice(0, 5)));
  });

  it('dropout keeps about 1 - rate and scales by 1 / (1 - rate); identity when not training', () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [10000]);
    const y = x.dropout({ rate: 0.25 });
    const ones = new Float32Array(10000).fill(1);
    const s = new ReferenceSession(g);
    const evalOut = s.run({ x: ones }, { y }).y.data;
    expect(evalOut.every((v) => v === 1)).toBe(true);
    g.minimize(g.param('p', [1]).sum(), { name: 'noop', apply: () => {} });
    const g2 = new Graph({ seed: 1 });
    const x2 = g2.input('x', [10000]);
    const y2 = x2.dropout({ rate: 0.25, training: true });
    const train = evaluate(g2, { x: ones }, { y2 }).y2.data;
    const kept = train.filter((v) => v !== 0);
    expect(kept.length / 10000).toBeCloseTo(0.75, 1);
    expect(kept.every((v) => Math.abs(v - 4 / 3) < 1e-12)).toBe(true);
  });
});

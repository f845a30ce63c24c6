// Non-finite numbers in graphs (issue 10 §4 F): constants, fills, pad values and scalar operands
// accept +-Infinity and NaN, and graph JSON (which has no Infinity or NaN) round-trips them.
import { evaluate, Graph } from '@kiln/core';

describe('non-finite constants', () => {
  test('fill, constant, pad and scalar operands take +-Infinity and NaN', () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const y = x.add(g.fill([2], -Infinity)).maximum(NaN).add(g.constant([Infinity, 1]));
    const p = x.pad([[1, 0]], -Infinity);
    const r = evaluate(g, { x: Float32Array.of(1, 2) }, { y, p });
    expect(Array.from(r.y!.data)).toEqual([NaN, NaN]);
    expect(Array.from(r.p!.data)).toEqual([-Infinity, 1, 2]);
  });

  test('graph JSON encodes them and reads them back, through JSON.stringify', () => {
    const g = new Graph();
    const x = g.input('x', [3]);
    g.param('w', [3], { init: [NaN, Infinity, -Infinity] });
    const y = x.add(g.constant([NaN, Infinity, -Infinity])).mul(g.fill([3], -Infinity)).pad([[1, 0]], NaN);
    const text = JSON.stringify(g.toJSON());
    expect(text).not.toContain('null');
    const back = Graph.fromJSON(text);
    const feeds = { x: Float32Array.of(1, 2, 3) };
    const want = evaluate(g, feeds, { y }).y!.data;
    const got = evaluate(back, feeds, { y: back.tensor(y.id) }).y!.data;
    expect(Array.from(got)).toEqual(Array.from(want));
    expect(Array.from(want)).toEqual([NaN, NaN, -Infinity, Infinity]);
    expect(JSON.parse(text).params[0].init.values).toEqual([{ ieee: 'NaN' }, { ieee: 'Infinity' }, { ieee: '-Infinity' }]);
  });
});

// The op API is derived from the spec table: every primitive users call is an `ops.*` function
// and a Tensor method without a line of its own, and both are the same code.
import { Graph, ops, PRIMITIVE_NAMES, spec, Tensor } from '@kiln/core';

const callable = PRIMITIVE_NAMES.filter((n) => {
  const s = spec(n);
  return s.kind !== 'source' && s.kind !== 'state' && typeof s.arity === 'number' && s.arity > 0;
});

test('every callable primitive is an ops function and a Tensor method', () => {
  const table = ops as unknown as Record<string, unknown>;
  const proto = Tensor.prototype as unknown as Record<string, unknown>;
  const missing = callable.filter((n) => typeof table[n] !== 'function' || typeof proto[n] !== 'function');
  expect(missing).toEqual([]);
  expect(callable).toEqual(expect.arrayContaining(['softsign', 'cumsum', 'add', 'matmul', 'conv2d']));
});

test('a derived op takes its inputs, then its attributes; method and function build the same node', () => {
  const g = new Graph();
  const x = g.input('x', [2, 3]);
  const a = x.cumsum({ axis: 1, reverse: true });
  const b = ops.cumsum(x, { axis: 1, reverse: true });
  expect([a.op, a.node.attrs, a.shape]).toEqual([b.op, b.node.attrs, b.shape]);
  expect(x.softsign().op).toBe('softsign');
  expect(x.add(1).op).toBe('add'); // numbers are lifted to scalars
  expect(() => x.cumsum({ axis: 2 })).toThrow(/axis 2 out of range/);
});

test('methods are defined with the class (no load-order dependent patching)', () => {
  expect(Object.getOwnPropertyDescriptor(Tensor.prototype, 'relu')).toMatchObject({ writable: true, enumerable: false });
});

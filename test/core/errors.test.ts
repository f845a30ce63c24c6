// Every error class, triggered, with its message checked.
import { compileWith, createReferenceBackend, DisposedError, DTypeError, FeedError, Graph, GraphError, OptionsError, SerializationError, ShapeError } from '@kiln/core';

describe('typed errors at build time', () => {
  const g = new Graph();
  const a = g.input('a', [2, 3]);
  const b = g.input('b', [4, 3]);

  it('ShapeError names the op, the node and both shapes', () => {
    expect(() => a.add(b)).toThrow(ShapeError);
    expect(() => a.add(b)).toThrow(/add \(node #\d+\): add: shapes \[2, 3\] and \[4, 3\] are not broadcast-compatible.*inputs a: f32\[2, 3\], b: f32\[4, 3\]/);
    expect(() => a.matmul(b)).toThrow(/matmul.*inner dimensions differ \(3 vs 4\)/);
    expect(() => a.reshape([5, -1])).toThrow(/cannot reshape \[2, 3\] into \[5, -1\]/);
    expect(() => a.transpose([0, 0])).toThrow(/not a permutation/);
    expect(() => a.sum({ axes: [2] })).toThrow(/axis 2 out of range for rank 2/);
  });

  it('DTypeError names the expected and actual dtypes', () => {
    const i = g.input('i', [2, 3], 'i32');
    expect(() => a.add(i)).toThrow(DTypeError);
    expect(() => a.add(i)).toThrow(/dtypes differ \(f32 vs i32\)/);
    expect(() => i.exp()).toThrow(/exp input must be f32, got i32/);
    expect(() => a.where(a, a)).toThrow(/condition must be bool, got f32/);
    expect(() => a.gather(a)).toThrow(/indices must be i32, got f32/);
  });

  it('GraphError for structural mistakes', () => {
    const other = new Graph().input('z', [2, 3]);
    expect(() => a.add(other)).toThrow(GraphError);
    expect(() => a.add(other)).toThrow(/belongs to another graph/);
    expect(() => g.input('a', [1])).toThrow(/input 'a' is already defined/);
    g.param('p', [2]);
    expect(() => g.param('p', [2])).toThrow(/param 'p' is already defined/);
  });

  it('OptionsError for invalid options objects', () => {
    expect(() => new Graph({ seed: 1.5 })).toThrow(OptionsError);
    expect(() => new Graph({ seed: 'x' } as never)).toThrow(/new Graph: invalid options — seed/);
    expect(() => a.dropout({ rate: 1.5 })).toThrow(/dropout: invalid options — rate/);
    expect(() => a.sum({ axes: [0], keepdims: true } as never)).toThrow(/sum: invalid options/);
    expect(() => g.randomUniform([2], { lo: 1 } as never)).toThrow(OptionsError);
    expect(() => a.leakyRelu({ alpha: 'x' } as never)).toThrow(/invalid attributes — alpha/);
  });

  it('ShapeError for bad shapes and constants', () => {
    expect(() => g.input('bad', [-1])).toThrow(/invalid shape \[-1\]/);
    expect(() => g.constant([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => g.constant([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
    expect(() => g.param('w', ['batch', 2] as never)).toThrow(ShapeError);
  });
});

describe('typed errors at run time, before any device work', () => {
  const g = new Graph();
  const x = g.input('x', ['batch', 3]);
  const i = g.input('i', ['batch'], 'i32');
  const y = x.sum({ axes: [1] }).add(i.cast('f32'));

  it('FeedError for missing, unknown, wrong-size and wrong-dtype feeds; the Executable still works', async () => {
    const backend = createReferenceBackend();
    const exe = await compileWith(g, backend);
    await expect(exe.run({ x: new Float32Array(6) }, { y })).rejects.toThrow(/missing feed 'i'/);
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(2), z: new Float32Array(1) }, { y })).rejects.toThrow(/unknown feed 'z'/);
    await expect(exe.run({ x: new Float32Array(7), i: new Int32Array(2) }, { y })).rejects.toThrow(/not a whole number of \[3\] rows/);
    await expect(exe.run({ x: new Float32Array(6), i: new Float32Array(2) }, { y })).rejects.toThrow(/dtype f32 \(Float32Array\) does not match input dtype i32/);
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(3) }, { y })).rejects.toThrow(/dim 'batch' is 3 here but 2 in another feed/);
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(3) }, { y })).rejects.toBeInstanceOf(FeedError);
    expect(backend.stats.submissions).toBe(0);
    const r = await exe.run({ x: Float32Array.of(1, 2, 3, 4, 5, 6), i: Int32Array.of(1, 2) }, { y });
    expect(Array.from(r.y.data)).toEqual([7, 17]);
    expect(backend.stats.submissions).toBe(1);
    await exe.dispose();
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(2) }, { y })).rejects.toThrow(DisposedError);
  });

  it('GraphError for fetches of another graph', async () => {
    const exe = await compileWith(g, createReferenceBackend());
    await expect(exe.run({}, { z: new Graph().fill([1], 1) })).rejects.toThrow(/belongs to another graph/);
    await expect(exe.run({}, { z: 3 as never })).rejects.toThrow(/not a Tensor/);
  });

  it('SerializationError from Graph.fromJSON: malformed text, a bad document, an unknown op', () => {
    const g = new Graph();
    g.input('x', [2]).exp();
    const doc = g.toJSON();
    expect(() => Graph.fromJSON('{"nodes": [')).toThrow(SerializationError);
    expect(() => Graph.fromJSON('{"nodes": [')).toThrow(/does not parse/);
    expect(() => Graph.fromJSON({ ...doc, nodes: 'x' })).toThrow(/graph JSON is invalid at nodes/);
    const bad = JSON.parse(JSON.stringify(doc));
    bad.nodes[1].op = 'frobnicate';
    expect(() => Graph.fromJSON(bad)).toThrow(SerializationError);
    expect(() => Graph.fromJSON(bad)).toThrow(/unknown op 'frobnicate'/);
  });
});

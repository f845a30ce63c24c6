// Every error class, triggered, with its message checked.
import { compileWith, concat, createReferenceBackend, DisposedError, DTypeError, evaluate, FeedError, Graph, GraphError, OptionsError, SerializationError, ShapeError } from '@kiln/core';
import { watchWork } from '../support/observe-work';

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
    expect(() => a.leakyRelu({ alpha: 'x' } as never)).toThrow(/leakyRelu alpha: invalid options — alpha/);
  });

  it('ShapeError for bad shapes and constants', () => {
    expect(() => g.input('bad', [-1])).toThrow(/invalid shape \[-1\]/);
    expect(() => g.constant([[1, 2], [3]])).toThrow(/ragged/);
    expect(() => g.constant([1, 2, 3], [2, 2])).toThrow(/3 values do not fill shape \[2, 2\]/);
    // Operands and elements that are not numbers would become NaN (or a parsed string) silently.
    expect(() => a.add(undefined as never)).toThrow(/expected a Tensor, a number or a boolean operand, got undefined/);
    expect(() => a.mul('3' as never)).toThrow(GraphError);
    expect(() => g.constant([1, 'a'] as never)).toThrow(/constant: element 1 is "a", not a number or boolean/);
    expect(() => g.constant([[1, 2], 3] as never)).toThrow(/ragged nested array at depth 1/);
    let deep: unknown = 1;
    for (let i = 0; i < 100000; i++) deep = [deep];
    expect(g.constant(deep as never).rank).toBe(100000); // nesting is walked level by level, not on the JS stack
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
    const work = watchWork(backend);
    const exe = await compileWith(g, backend);
    await expect(exe.run({ x: new Float32Array(6) }, { y })).rejects.toThrow(/missing feed 'i'/);
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(2), z: new Float32Array(1) }, { y })).rejects.toThrow(/unknown feed 'z'/);
    await expect(exe.run({ x: new Float32Array(7), i: new Int32Array(2) }, { y })).rejects.toThrow(/not a whole number of \[3\] rows/);
    await expect(exe.run({ x: new Float32Array(6), i: new Float32Array(2) }, { y })).rejects.toThrow(/dtype f32 \(Float32Array\) does not match input dtype i32/);
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(3) }, { y })).rejects.toThrow(/dim 'batch' is 3 here but 2 in another feed/);
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(3) }, { y })).rejects.toBeInstanceOf(FeedError);
    expect(work.programRuns).toBe(0);
    const r = await exe.run({ x: Float32Array.of(1, 2, 3, 4, 5, 6), i: Int32Array.of(1, 2) }, { y });
    expect(Array.from(r.y.data)).toEqual([7, 17]);
    expect(work.programRuns).toBe(1);
    await exe.dispose();
    await expect(exe.run({ x: new Float32Array(6), i: new Int32Array(2) }, { y })).rejects.toThrow(DisposedError);
  });

  it('OptionsError for run options with a typo or a wrong type (a silent run without training otherwise)', async () => {
    const exe = await compileWith(g, createReferenceBackend());
    const feeds = { x: new Float32Array(3), i: new Int32Array(1) };
    await expect(exe.run(feeds, { y }, { trian: true } as never)).rejects.toThrow(OptionsError);
    await expect(exe.run(feeds, { y }, { trian: true } as never)).rejects.toThrow(/run: invalid options — \(options\): Unrecognized key: "trian"|run: invalid options.*trian/);
    await expect(exe.run(feeds, { y }, { train: 'yes' } as never)).rejects.toThrow(/run: invalid options — train/);
    expect(Array.from((await exe.run(feeds, { y }, null as never)).y.data)).toEqual([0]);
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

describe('fed indices and labels are checked against their range before any dispatch', () => {
  it('refuses softmaxCrossEntropy labels outside [0, classes), naming input, position, value and range', async () => {
    const g = new Graph();
    const logits = g.input('logits', ['batch', 10]);
    const y = g.input('y', ['batch'], 'i32');
    const loss = logits.softmaxCrossEntropy(y).mean();
    const backend = createReferenceBackend();
    const work = watchWork(backend);
    const exe = await compileWith(g, backend);
    const x = new Float32Array(30);
    await expect(exe.run({ logits: x, y: Int32Array.of(1, 12, 3) }, { loss })).rejects.toThrow(FeedError);
    await expect(exe.run({ logits: x, y: Int32Array.of(1, 12, 3) }, { loss })).rejects.toThrow(
      "feed 'y': value 12 at position [1] is out of range for softmaxCrossEntropy labels (10 classes): valid range is [0, 10)");
    await expect(exe.run({ logits: x, y: Int32Array.of(0, 9, -1) }, { loss })).rejects.toThrow(/value -1 at position \[2\]/);
    expect(work.programRuns).toBe(0);
    const ok = await exe.run({ logits: x, y: Int32Array.of(0, 9, 3) }, { loss });
    expect(ok.loss.data[0]).toBeCloseTo(Math.log(10), 5);
    expect(() => evaluate(g, { logits: x, y: [12, 0, 0] }, { loss })).toThrow(/value 12 at position \[0\]/);
  });

  it('follows labels and indices through reshapes, transposes, broadcasts and concats, and names the position in the fed shape', () => {
    const g = new Graph();
    const table = g.input('table', [5, 2]);
    const ids = g.input('ids', [2, 3], 'i32');
    const more = g.input('more', [1], 'i32');
    const picked = table.gather(concat([ids.transpose().reshape([6]), more], 0));
    const feeds = { table: new Float32Array(10), ids: Int32Array.of(0, 1, 2, 3, 4, 5), more: Int32Array.of(0) };
    expect(() => evaluate(g, feeds, { picked })).toThrow("feed 'ids': value 5 at position [1, 2] is out of range for gather indices (axis 0 of size 5): valid range is [0, 5)");
    expect(() => evaluate(g, { ...feeds, ids: new Int32Array(6), more: Int32Array.of(7) }, { picked })).toThrow(/feed 'more': value 7/);
    expect(evaluate(g, { ...feeds, ids: Int32Array.of(0, 1, 2, 3, 4, 4) }, { picked }).picked.shape).toEqual([7, 2]);
  });

  it('checks a symbolic range against the run\'s binding, scatterAdd and oneHot too, and only where the consumer runs', () => {
    const g = new Graph();
    const table = g.input('table', ['vocab', 2]);
    const ids = g.input('ids', [3], 'i32');
    const rows = table.gather(ids);
    const hot = ids.oneHot(4);
    const back = g.input('u', [3]).scatterAdd(ids, { axis: 0, size: 2 });
    const asFloat = ids.cast('f32');
    const feeds = { table: new Float32Array(6), ids: Int32Array.of(0, 2, 3) };
    expect(() => evaluate(g, feeds, { rows })).toThrow("feed 'ids': value 3 at position [2] is out of range for gather indices (axis 0 of size vocab): valid range is [0, 3) ('vocab' = 3)");
    expect(evaluate(g, { ...feeds, table: new Float32Array(8) }, { rows }).rows.shape).toEqual([3, 2]);
    expect(() => evaluate(g, { ids: Int32Array.of(0, 4, 1) }, { hot })).toThrow(/oneHot indices \(4 classes\): valid range is \[0, 4\)/);
    expect(() => evaluate(g, { ids: Int32Array.of(0, 2, 1), u: new Float32Array(3) }, { back })).toThrow(/scatterAdd indices \(axis 0 of size 2\)/);
    // A run that never uses the ids as indices does not constrain them.
    expect(Array.from(evaluate(g, { ids: Int32Array.of(-5, 99, 3) }, { asFloat }).asFloat.data)).toEqual([-5, 99, 3]);
  });
});

describe('graph validation of state, symbols, names, values and sizes', () => {
  it('refuses reserved input names, and feeds for them', async () => {
    const g = new Graph();
    expect(() => g.input('__training__', [2])).toThrow(GraphError);
    expect(() => g.input('__training__', [2])).toThrow(/names starting with '__' are reserved/);
    expect(() => g.input('__x', [1])).toThrow(GraphError);
    const x = g.input('x', [2]);
    const y = g.isTraining().where(x, x.neg());
    const exe = await compileWith(g, createReferenceBackend());
    await expect(exe.run({ x: [5, 6], __training__: Uint8Array.of(1) } as never, { y })).rejects.toThrow(/unknown feed '__training__' \(inputs: x\)/);
    expect(Array.from((await exe.run({ x: [5, 6] }, { y })).y.data)).toEqual([-5, -6]);
  });

  it('refuses an assign whose target is not a param; every assign is an update', async () => {
    const g = new Graph();
    const x = g.input('x', [2]);
    const p = g.param('p', [2]);
    expect(() => g.addNode('assign', [x, x], {})).toThrow(GraphError);
    expect(() => g.addNode('assign', [x, x], {})).toThrow(/assign \(node #\d+\): target Tensor\(x: f32\[2\]\) is not a param/);
    expect(() => g.assign(x, 1)).toThrow(/assign: target .* is not a param/);
    const a = g.addNode('assign', [p, x.add(1)], {});
    expect(g.updates).toEqual([a.id]);
    const exe = await compileWith(g, createReferenceBackend());
    await exe.run({ x: [1, 2] }, {}, { train: true });
    expect(Array.from((await exe.getParam('p')).data)).toEqual([2, 3]);
  });

  it('refuses symbolic dims that no input defines', () => {
    const g = new Graph();
    expect(() => g.addNode('dimSize', [], { dims: ['n'] })).toThrow(ShapeError);
    expect(() => g.addNode('dimSize', [], { dims: ['n'] })).toThrow(/symbolic dim 'n' is not a dim of any input/);
    expect(() => g.fill(['n', 2], 1)).toThrow(/symbolic dim 'n'/);
    const x = g.input('x', ['batch', 2]);
    expect(() => x.reshape(['rows', 2])).toThrow(/symbolic dim 'rows'/);
    expect(() => g.randomUniform(['m'])).toThrow(ShapeError);
    const m = x.mean({ axes: [0] });
    expect(Array.from(evaluate(g, { x: [1, 2, 3, 4] }, { m }).m.data)).toEqual([2, 3]);
  });

  it('binds a symbol the run needs from the feed of an input it does not read, or names that feed', async () => {
    const g = new Graph();
    g.input('x', ['batch', 3]);
    const count = g.fill(['batch'], 1).sum();
    const exe = await compileWith(g, createReferenceBackend());
    await expect(exe.run({}, { count })).rejects.toThrow("this run needs dim 'batch', which no feed binds: feed 'x'");
    await expect(exe.run({}, { count })).rejects.toBeInstanceOf(FeedError);
    expect(Array.from((await exe.run({ x: new Float32Array(6) }, { count })).count.data)).toEqual([2]);
    expect(Array.from(evaluate(g, { x: new Float32Array(9) }, { count }).count.data)).toEqual([3]);
  });

  it('refuses constants, fills and initial values outside their dtype (no silent wrap or truncation)', () => {
    const g = new Graph();
    expect(() => g.constant([2 ** 31, 1.5], [2], 'i32')).toThrow(DTypeError);
    expect(() => g.constant([2 ** 31, 1.5], [2], 'i32')).toThrow(/value 2147483648 at position 0 is not an i32 \(integers in \[-2147483648, 2147483647\]\)/);
    expect(() => g.constant([1, 1.5], [2], 'i32')).toThrow(/value 1.5 at position 1 is not an i32/);
    expect(() => g.constant([0, 2], [2], 'bool')).toThrow(/value 2 at position 1 is not a bool \(0 or 1\)/);
    expect(() => g.fill([3], -(2 ** 31) - 1, 'i32')).toThrow(DTypeError);
    expect(() => g.param('k', [2], { dtype: 'i32', init: [1, 0.5] })).toThrow(/param 'k': initial value 0.5 at position 1 is not an i32/);
    // Named initialisers run at compile time: a typo is refused when the param is made.
    expect(() => g.param('k', [2], { init: 'glorotUnifrom' as never })).toThrow(OptionsError);
    expect(() => g.param('k', [2], { init: { name: 'normal', sd: 1 } as never })).toThrow(/param 'k': invalid initialiser .*Unrecognized key: "sd"/);
    expect(() => g.param('k', [2], { init: [1, 'x'] as never })).toThrow(/param 'k': initial value at position 1 is string, not a number/);
    const i = g.input('i', [2], 'i32');
    expect(() => i.add(0.5)).toThrow(DTypeError);
    expect(() => g.range(0, 2, 0.5)).toThrow(DTypeError);
    expect(() => g.range(0, Infinity)).toThrow(OptionsError);
    const c = g.constant([2 ** 31 - 1, -(2 ** 31)], [2], 'i32');
    expect(Array.from(evaluate(g, {}, { c }).c.data)).toEqual([2 ** 31 - 1, -(2 ** 31)]);
  });

  it('refuses absurd sizes at build time and bounds constant folding by cost', async () => {
    const g = new Graph();
    expect(() => g.fill([2 ** 40], 1)).toThrow(ShapeError);
    expect(() => g.fill([2 ** 40], 1)).toThrow(/output \[1099511627776\] has 1099511627776 elements, more than the 4294967295/);
    expect(() => g.fill([2 ** 16, 2 ** 16], 1)).toThrow(ShapeError);
    expect(() => g.range(2 ** 33)).toThrow(ShapeError);
    // oneHot builds a range of its depth on the host: refused before it allocates gigabytes.
    expect(() => g.constant([1, 2], [2], 'i32').oneHot(2 ** 31)).toThrow(/range: 2147483648 elements, more than the 16777216 a constant built on the host may hold/);
    // 2**31 ones: folding would build the whole input on the host; it stays a device reduction.
    const big = g.fill([2 ** 31], 1).sum();
    const mid = g.fill([2 ** 17], 1).sum();
    const small = g.fill([4], 2).sum();
    const exe = await compileWith(g, createReferenceBackend());
    const folded = (t: typeof big) => exe.plan({ t }).steps.length === 0;
    expect(folded(big)).toBe(false);
    expect(folded(mid)).toBe(false);
    expect(folded(small)).toBe(true);
    expect(Array.from((await exe.run({}, { mid, small })).mid.data)).toEqual([2 ** 17]);
    const n = g.input('n', ['n']);
    const wide = n.reshape(['n', 1]).broadcastTo(['n', 2 ** 31]).sum();
    const exe2 = await compileWith(g, createReferenceBackend());
    await expect(exe2.run({ n: new Float32Array(4) }, { wide })).rejects.toThrow(/feeds bind 'n' = 4, which makes node #\d+ \(broadcastTo\) \[n, 2147483648\] hold 8589934592 elements/);
  });

  it('refuses fed shapes whose dims are not non-negative integers, and malformed feed values', async () => {
    const g = new Graph();
    const x = g.input('x', ['a', 'b']);
    const i = g.input('i', [2], 'i32');
    const s = x.sum().add(i.cast('f32').sum());
    const backend = createReferenceBackend();
    const work = watchWork(backend);
    const exe = await compileWith(g, backend);
    const data = new Float32Array(8);
    const bad: [unknown, RegExp][] = [
      [{ x: { data, shape: [-2, -4] }, i: [0, 0] }, /feed 'x': dim 0 of the fed shape is -2; every dim must be a non-negative integer/],
      [{ x: { data, shape: [2.5, 3.2] }, i: [0, 0] }, /feed 'x': dim 0 of the fed shape is 2.5/],
      [{ x: { data, shape: ['2', 4] }, i: [0, 0] }, /feed 'x': dim 0 of the fed shape is string/],
      [{ x: { data, shape: 8 }, i: [0, 0] }, /feed 'x': shape must be an array/],
      [{ x: null, i: [0, 0] }, /feed 'x': expected a typed array, a number\[\] or \{ data, shape \}, got null/],
      [{ x: { data: 'abc', shape: [1, 3] }, i: [0, 0] }, /feed 'x': expected a Float32Array/],
      [{ x: { data, shape: [2, 4] }, i: [1, 'a'] }, /feed 'i': element 1 is string, not a number/],
      [{ x: { data, shape: [2, 4] }, i: [1, 1.5] }, /feed 'i': element 1 is 1.5, not an i32/],
      [{ x: { data, shape: [2, 4] }, i: [2 ** 31, 0] }, /feed 'i': element 0 is 2147483648, not an i32/],
      [[1, 2], /feeds must be an object keyed by input name, got an array/],
    ];
    for (const [feeds, msg] of bad) {
      await expect(exe.run(feeds as never, { s })).rejects.toThrow(FeedError);
      await expect(exe.run(feeds as never, { s })).rejects.toThrow(msg);
    }
    expect(work.programRuns).toBe(0);
    expect(Array.from((await exe.run({ x: { data: data.fill(1), shape: [2, 4] }, i: [1, 2] }, { s })).s.data)).toEqual([11]);
  });
});

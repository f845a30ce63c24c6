// Graph JSON round trip and refusal of malformed documents.
import { evaluate, Graph, SerializationError } from '@kiln/core';

function model(): { g: Graph; loss: ReturnType<Graph['input']> } {
  const g = new Graph({ seed: 7 });
  const x = g.input('x', ['batch', 4]);
  const y = g.input('y', ['batch'], 'i32');
  const w = g.param('w', [4, 3], { init: 'glorotUniform' });
  const b = g.param('b', [3], { init: Float32Array.of(0.1, -0.2, 0.3) });
  const h = x.matmul(w).add(b).gelu().dropout({ rate: 0.1 });
  const loss = h.softmaxCrossEntropy(y).mean();
  const [gw] = g.grad(loss, [w]);
  g.assign(w, w.sub(gw!.mul(0.1)));
  return { g, loss };
}

describe('Graph JSON', () => {
  it('round-trips a non-trivial graph with the same results', () => {
    const { g, loss } = model();
    const json = JSON.stringify(g.toJSON());
    const g2 = Graph.fromJSON(json);
    expect(g2.nodes.length).toBe(g.nodes.length);
    expect(JSON.stringify(g2.toJSON())).toBe(json);
    const feeds = { x: Float32Array.from({ length: 8 }, (_, i) => i / 8), y: Int32Array.of(0, 2) };
    const a = evaluate(g, feeds, { loss }, { train: true }).loss.data[0];
    const b = evaluate(g2, feeds, { loss: g2.tensor(loss.id) }, { train: true }).loss.data[0];
    expect(b).toBe(a);
    expect(g2.updates).toEqual(g.updates);
  });

  it('refuses malformed, truncated and inconsistent documents, naming the first bad node', () => {
    const { g } = model();
    const json = JSON.stringify(g.toJSON());
    expect(() => Graph.fromJSON(json.slice(0, json.length - 20))).toThrow(/does not parse \(truncated or malformed\?\)/);
    expect(() => Graph.fromJSON({ format: 'other' })).toThrow(SerializationError);
    const doc = JSON.parse(json);
    doc.nodes[3].op = 'frobnicate';
    expect(() => Graph.fromJSON(doc)).toThrow(/node #3 .*unknown op 'frobnicate'/);
    const doc2 = JSON.parse(json);
    const k = doc2.nodes.findIndex((n: { op: string }) => n.op === 'matmul');
    doc2.nodes[k].shape = ['batch', 5];
    expect(() => Graph.fromJSON(doc2)).toThrow(new RegExp(`node #${k} .*inconsistent with its inputs`));
    const doc3 = JSON.parse(json);
    doc3.nodes[k].inputs = [k + 1, 0];
    expect(() => Graph.fromJSON(doc3)).toThrow(/is not an earlier node/);
    const doc4 = JSON.parse(json);
    doc4.nodes[k].attrs = { transposeA: 'yes' };
    expect(() => Graph.fromJSON(doc4)).toThrow(new RegExp(`node #${k}.*invalid attributes`));
    const doc5 = JSON.parse(json);
    doc5.params = [];
    expect(() => Graph.fromJSON(doc5)).toThrow(/param 'w' has no entry/);
  });
});

describe('Graph JSON from untrusted input', () => {
  const doc = () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 4]);
    const y = g.input('y', ['batch'], 'i32');
    const w = g.param('w', [4, 3]);
    const loss = x.matmul(w).softmaxCrossEntropy(y).mean();
    g.assign(w, w.sub(g.grad(loss, [w])[0]!.mul(0.1)));
    return { g, loss, json: JSON.parse(JSON.stringify(g.toJSON())) };
  };

  it('bounds nesting depth before walking the document (no stack overflow), also for cyclic objects', () => {
    for (const depth of [40, 4000, 100000]) {
      const d = doc().json;
      let s: unknown = 1;
      for (let i = 0; i < depth; i++) s = [s];
      d.nodes[0].attrs.shape = s;
      expect(() => Graph.fromJSON(d)).toThrow(SerializationError);
      expect(() => Graph.fromJSON(d)).toThrow(/nested more than 32 levels deep/);
      const text = JSON.stringify(doc().json).replace('"attrs":{', `"attrs":{"deep":${'['.repeat(depth)}${']'.repeat(depth)},`);
      expect(() => Graph.fromJSON(text)).toThrow(/nested more than 32 levels deep/);
    }
    const cyclic = doc().json;
    cyclic.nodes[0].attrs.self = cyclic;
    expect(() => Graph.fromJSON(cyclic)).toThrow(/must be a tree: an object or array in it is reached twice/);
    // Shared subtrees: 24 levels of [a, a] would be 2**24 paths to any walk that copies.
    const shared = doc().json;
    let a: unknown = [1];
    for (let i = 0; i < 24; i++) a = [a, a];
    shared.nodes[0].attrs.shape = a;
    expect(() => Graph.fromJSON(shared)).toThrow(/must be a tree/);
  });

  it('refuses unknown attributes on inputs and params instead of dropping them', () => {
    const d = doc().json;
    d.nodes[0].attrs.extra = 1;
    expect(() => Graph.fromJSON(d)).toThrow(/node #0 'x' \(input\): invalid attributes — attrs: Unrecognized key/);
  });

  it('refuses reserved input names, except the train flag with its own type', () => {
    const d = doc().json;
    d.nodes[0].attrs.name = '__training__';
    d.nodes[0].name = '__training__';
    expect(() => Graph.fromJSON(d)).toThrow(/node #0 '__training__' \(input\): the train flag '__training__' must be a bool scalar/);
    d.nodes[0].attrs.name = '__mine';
    expect(() => Graph.fromJSON(d)).toThrow(/names starting with '__' are reserved/);
    const g = new Graph();
    const x = g.input('x', [2]);
    const out = g.isTraining().where(x, 0);
    const g2 = Graph.fromJSON(JSON.stringify(g.toJSON()));
    expect(Array.from(evaluate(g2, { x: [5, 6] }, { out: g2.tensor(out.id) }, { train: true }).out.data)).toEqual([5, 6]);
  });

  it('refuses assigns to non-params, updates that do not list every assign, and undefined symbols', () => {
    const { json } = doc();
    const k = json.nodes.findIndex((n: { op: string }) => n.op === 'assign');
    const a = JSON.parse(JSON.stringify(json));
    a.nodes[k].inputs[0] = 0;
    a.nodes[k].shape = ['batch', 4];
    expect(() => Graph.fromJSON(a)).toThrow(new RegExp(`node #${k} .*target Tensor\\(x: f32\\[batch, 4\\]\\) is not a param`));
    const b = JSON.parse(JSON.stringify(json));
    b.updates = [];
    expect(() => Graph.fromJSON(b)).toThrow(new RegExp(`updates \\[\\] must list every assign node once, in order: \\[${k}\\]`));
    const c = JSON.parse(JSON.stringify(json));
    c.updates = [k, k];
    expect(() => Graph.fromJSON(c)).toThrow(/must list every assign node once/);
    const d = JSON.parse(JSON.stringify(json));
    d.updates = [0];
    expect(() => Graph.fromJSON(d)).toThrow(/updates: #0 is not an assign node/);
    const e = JSON.parse(JSON.stringify(json));
    const m = e.nodes.findIndex((n: { op: string }) => n.op === 'dimSize');
    e.nodes[m].attrs.dims = ['rows'];
    expect(() => Graph.fromJSON(e)).toThrow(new RegExp(`node #${m} .*symbolic dim 'rows' is not a dim of any input`));
  });

  it('refuses constants outside their dtype and absurd sizes', () => {
    const g = new Graph();
    g.constant([1, 2], [2], 'i32');
    g.fill([3], 1);
    const json = JSON.parse(JSON.stringify(g.toJSON()));
    json.nodes[0].attrs.value = [2 ** 31, 1.5];
    expect(() => Graph.fromJSON(json)).toThrow(/node #0 .*value 2147483648 at position 0 is not an i32/);
    json.nodes[0].attrs.value = [1, 2];
    const w = doc().json;
    w.params[0].init = 'glorotUnifrom';
    expect(() => Graph.fromJSON(w)).toThrow(/node #\d+ 'w' \(param\): param 'w': invalid initialiser "glorotUnifrom"/);
    json.nodes[1].attrs.shape = [2 ** 40];
    json.nodes[1].shape = [2 ** 40];
    expect(() => Graph.fromJSON(json)).toThrow(/node #1 .*more than the 4294967295 a tensor may hold/);
  });

  it('round-trips non-finite param initialisers', () => {
    const g = new Graph();
    const m = g.param('runningMax', [2], { init: { constant: -Infinity }, trainable: false });
    const v = g.param('v', [2], { init: [Number.NaN, Infinity] });
    const g2 = Graph.fromJSON(JSON.stringify(g.toJSON()));
    expect(Array.from(evaluate(g2, {}, { m: g2.tensor(m.id), v: g2.tensor(v.id) }).m.data)).toEqual([-Infinity, -Infinity]);
    expect(Array.from(evaluate(g2, {}, { v: g2.tensor(v.id) }).v.data)).toEqual([Number.NaN, Infinity]);
  });

  it('keeps the labels and index ranges of composites, so a loaded graph refuses bad labels too', async () => {
    const { g, loss, json } = doc();
    expect(json.indexRanges).toEqual([expect.objectContaining({ input: 'y', high: 3, use: 'softmaxCrossEntropy labels (3 classes)' })]);
    const g2 = Graph.fromJSON(JSON.stringify(json));
    expect(g2.indexRanges).toEqual(g.indexRanges);
    expect(JSON.stringify(g2.toJSON())).toBe(JSON.stringify(json));
    const feeds = { x: new Float32Array(8), y: Int32Array.of(0, 3) };
    expect(() => evaluate(g2, feeds, { loss: g2.tensor(loss.id) })).toThrow("feed 'y': value 3 at position [1] is out of range for softmaxCrossEntropy labels (3 classes): valid range is [0, 3)");
    const bad = JSON.parse(JSON.stringify(json));
    bad.indexRanges[0].input = 'x';
    expect(() => Graph.fromJSON(bad)).toThrow(/indexRanges.0: input 'x' is f32/);
    bad.indexRanges[0].input = 'nope';
    expect(() => Graph.fromJSON(bad)).toThrow(/indexRanges.0: 'nope' is not an input/);
  });
});

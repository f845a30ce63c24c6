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

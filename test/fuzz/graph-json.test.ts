// Fuzz Graph.fromJSON with mutated valid documents (structure and text). Every input is
// either accepted or refused with a SerializationError, never a raw crash or a hang; a graph
// that loads re-serialises to a document that loads to the same graph, and, when small
// enough to run, runs on the reference backend or refuses the run with a typed error.
import { compileWith, concat, createReferenceBackend, Graph, KilnError, PRIMITIVE_NAMES, SerializationError, type Tensor } from '@kiln/core';
import { BUDGET, mutateJson, oddValue, type Rng, rng, SCALE, SEED, Tally } from './fuzz';

function sgd(g: Graph, loss: Tensor): void {
  const params = g.trainableParams();
  g.grad(loss, params).forEach((d, i) => g.assign(params[i]!, params[i]!.sub(d.mul(0.1))));
}

/** Small valid documents that between them use every kind of op, symbols, state and constraints. */
function baseDocuments(): unknown[] {
  const mlp = new Graph({ seed: 1 });
  {
    const x = mlp.input('x', ['batch', 4]);
    const y = mlp.input('y', ['batch'], 'i32');
    const w = mlp.param('w', [4, 3], { init: 'glorotUniform' });
    const b = mlp.param('b', [3], { init: [0.1, -0.2, 0.3] });
    const loss = x.matmul(w).add(b).relu().softmaxCrossEntropy(y).mean();
    mlp.assign(b, b.mul(0.9).add(loss));
  }
  const conv = new Graph({ seed: 2 });
  {
    const x = conv.input('x', [2, 1, 6, 6]);
    const k = conv.param('k', [2, 1, 3, 3], { init: 'heNormal' });
    const c = x.conv2d(k, { padding: 1 }).maxPool2d({ kernel: 2 }).reshape([2, 18]);
    const e = concat([c, x.reshape([2, 36]).slice({ begin: [0, 2], size: [2, 4] }).pad([[0, 0], [1, 1]], 0)], 1);
    e.transpose([1, 0]).sum({ axes: [0] });
  }
  const misc = new Graph({ seed: 3 });
  {
    const table = misc.param('table', [5, 2]);
    const ids = misc.input('ids', ['n'], 'i32');
    const u = misc.input('u', ['n', 2]);
    const rows = table.gather(ids);
    const back = u.scatterAdd(ids, { axis: 0, size: 5 });
    const pick = misc.isTraining().where(rows, u).max({ axes: [1] }).add(rows.argMax({ axis: 1 }).cast('f32'));
    pick.add(misc.randomUniform(['n'])).mean().add(back.prod()).add(ids.oneHot(5).min());
    u.greater(0).logicalAnd(u.isNaN().logicalNot()).cast('f32').sum().add(misc.constant([1, 2, 3], [3], 'i32').cast('f32').sum());
  }
  const grad = new Graph({ seed: 4 });
  {
    const x = grad.input('x', ['batch', 2]);
    const w = grad.param('w', [2]);
    const loss = x.mul(w).sigmoid().sum();
    const [dw] = grad.grad(loss, [w]);
    grad.assign(w, w.sub(dw!.mul(0.5)));
  }
  return [mlp, conv, misc, grad].map((g) => JSON.parse(JSON.stringify(g.toJSON())));
}

/** Every tensor of the graph small enough to evaluate on the host quickly, with symbols bound to `bind`. */
function small(g: Graph, bind: number): boolean {
  return g.nodes.every((n) => n.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : bind), 1) <= 1 << 14);
}

function feedsFor(g: Graph, bind: number): Record<string, Float32Array | Int32Array | Uint8Array> {
  const feeds: Record<string, Float32Array | Int32Array | Uint8Array> = {};
  for (const [name, id] of g.inputs) {
    if (name.startsWith('__')) continue;
    const n = g.nodes[id]!;
    const size = n.shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : bind), 1);
    feeds[name] = n.dtype === 'f32' ? Float32Array.from({ length: size }, (_, i) => Math.sin(i)) : n.dtype === 'i32' ? new Int32Array(size) : new Uint8Array(size);
  }
  return feeds;
}

type Doc = { nodes: { op: string; inputs: number[]; attrs: Record<string, unknown>; shape: unknown[]; dtype: string }[] };

/** Graph-aware damage that keeps the document well-formed: rewired inputs, ops and attributes swapped between nodes, nudged numbers, dtypes. */
function rewire(doc: Doc, r: Rng): void {
  const nodes = doc.nodes;
  const id = 1 + r.int(nodes.length - 1);
  const node = nodes[id]!;
  switch (r.int(5)) {
    case 0: if (node.inputs.length) node.inputs[r.int(node.inputs.length)] = r.int(id); break;
    case 1: { const other = nodes[r.int(nodes.length)]!; node.op = other.op; node.attrs = structuredClone(other.attrs); break; }
    case 2: {
      const key = r.pick(Object.keys(node.attrs).concat(['shape']));
      const v = node.attrs[key];
      const nudge = (x: unknown) => (typeof x === 'number' ? r.pick([x, x + 1, x - 1, 0, -1, -x, 0.5, 2 ** 31]) : x);
      node.attrs[key] = Array.isArray(v) ? v.map(nudge) : typeof v === 'number' ? nudge(v) : oddValue(r);
      break;
    }
    case 3: node.op = r.pick(PRIMITIVE_NAMES); break;
    default: node.dtype = r.pick(['f32', 'i32', 'bool']);
  }
}

/** Copy the type the builder inferred into the node a SerializationError names; false when it names none. */
function adoptInferred(doc: Doc, e: unknown): boolean {
  const m = e instanceof SerializationError ? /^node #(\d+) .*inferred (\w+)\[([^\]]*)\]\)$/.exec(e.message) : null;
  if (!m) return false;
  const node = doc.nodes[Number(m[1])]!;
  node.dtype = m[2]!;
  node.shape = m[3] ? m[3].split(', ').map((d) => (/^\d+$/.test(d) ? Number(d) : d)) : [];
  return true;
}

/** JSON text of a mutated document (non-finite numbers spelled out); undefined when it is cyclic. */
function show(doc: unknown): string | undefined {
  try {
    return JSON.stringify(doc, (_, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : v));
  } catch {
    return undefined;
  }
}

describe('fuzz: Graph.fromJSON', () => {
  it(`refuses ${BUDGET.graphJson * SCALE} mutated documents with typed errors only, and what loads works`, async () => {
    const bases = baseDocuments().map((d) => JSON.stringify(d)); // parsed afresh per input: cheaper than a deep clone
    const r = rng(SEED);
    const parse = new Tally();
    const after = new Tally();
    const backend = createReferenceBackend();
    const vocabulary = { ops: PRIMITIVE_NAMES };
    let ran = 0;
    for (let k = 0; k < BUDGET.graphJson * SCALE; k++) {
      const doc = JSON.parse(r.pick(bases)) as unknown;
      const rewired = r.chance(0.3);
      for (let m = 0, n = r.pick([1, 1, 1, 1, 1, 1, 2, 2, 2, 3]); m < n; m++) {
        // Most mutations land inside one node, where the interesting validation is.
        const nodes = (doc as { nodes: unknown }).nodes;
        if (rewired) rewire(doc as Doc, r);
        else mutateJson(r.chance(0.7) && Array.isArray(nodes) && nodes.length ? { nodes: [nodes[r.int(nodes.length)]] } : doc, r, vocabulary);
      }
      // A rewired graph records its old types: adopt the inferred ones (twice at most), so that
      // the graph-level rules, not the recorded types, decide.
      for (let fix = 0; rewired && fix < 2; fix++) {
        try {
          Graph.fromJSON(doc);
          break;
        } catch (e) {
          if (!adoptInferred(doc as Doc, e)) break;
        }
      }
      let input: unknown = doc;
      const json = r.chance(0.15) ? show(doc) : undefined;
      if (json !== undefined) {
        // Text-level damage: cut, or a changed character (quotes, brackets, digits).
        let text = json;
        const at = r.int(text.length + 1);
        text = r.chance(0.5) ? text.slice(0, at) : text.slice(0, at) + r.pick(['"', '[', ']', '{', '}', ',', '9', '-', 'e', ' ', '\\']) + text.slice(at + 1);
        input = text;
      }
      const describe = () => (typeof input === 'string' ? input : show(input) ?? '(a cyclic document)');
      const res = await parse.try(describe, () => Graph.fromJSON(input), (e) => e instanceof SerializationError);
      if (!res.ok) continue;
      const g = res.value;
      // A loaded graph is whole: it serialises to a document that loads to the same graph.
      await after.try(() => `round trip of ${describe()}`, () => {
        const j = g.toJSON();
        const again = Graph.fromJSON(j).toJSON();
        if (JSON.stringify(again) !== JSON.stringify(j)) after.problem(`round trip changed the document: ${describe()}`);
      });
      const bind = 1 + r.int(3);
      if (ran >= 100 * SCALE || !small(g, bind)) continue;
      ran++;
      await after.try(() => `run of ${describe()}`, async () => {
        const exe = await compileWith(g, backend);
        try {
          const target = g.tensor(g.nodes.length - 1);
          await exe.run(feedsFor(g, bind), (target.op === 'assign' ? {} : { out: target }) as Record<string, Tensor>, { train: g.updates.length > 0 && r.chance(0.5) });
        } finally {
          await exe.dispose();
        }
      }, (e) => e instanceof KilnError);
    }
    console.log(`graph JSON: ${parse.summary()}; loaded graphs: ${after.summary()} (${ran} compiled and run)`);
    expect(parse.crashes).toEqual([]);
    expect(after.crashes).toEqual([]);
    expect(after.problems).toEqual([]);
    expect(parse.tried).toBe(BUDGET.graphJson * SCALE);
    // The mutator must reach past the schema: some documents load, most are refused.
    expect(parse.accepted).toBeGreaterThan(parse.tried * 0.05);
    expect(parse.refused).toBeGreaterThan(parse.tried * 0.3);
  });
});

/**
 * Graph JSON: a versioned, zod-validated document. fromJSON rebuilds the graph node by node
 * through the builder, so every node's shape and dtype is re-inferred and checked; the
 * first bad node is named in the error.
 */
import { z } from 'zod';
import { KilnError, SerializationError } from './errors';
import { Graph } from './graph';
import type { ParamInit } from './init';
import { PRIMITIVE_NAMES, type PrimitiveName } from './ops/names';
import type { Tensor } from './tensor';

const dim = z.union([z.number().int().nonnegative(), z.string()]);
const initSchema = z.union([
  z.string(),
  z.object({ name: z.string() }).catchall(z.number()),
  z.object({ constant: z.number() }).strict(),
  z.object({ values: z.array(z.number()) }).strict(),
]);
const docSchema = z.object({
  format: z.literal('kiln-graph'),
  version: z.literal(1),
  seed: z.number().int(),
  nodes: z.array(z.object({
    op: z.string(),
    name: z.string(),
    inputs: z.array(z.number().int().nonnegative()),
    attrs: z.record(z.string(), z.unknown()),
    shape: z.array(dim),
    dtype: z.enum(['f32', 'i32', 'bool']),
  }).strict()),
  params: z.array(z.object({ name: z.string(), init: initSchema, trainable: z.boolean() }).strict()),
  updates: z.array(z.number().int().nonnegative()),
}).strict();

export type GraphJSON = z.infer<typeof docSchema>;

export function graphToJSON(g: Graph): GraphJSON {
  return {
    format: 'kiln-graph',
    version: 1,
    seed: g.seed,
    nodes: g.nodes.map((n) => ({ op: n.op, name: n.name, inputs: [...n.inputs], attrs: { ...n.attrs }, shape: [...n.shape], dtype: n.dtype })),
    params: [...g.params].map(([name, p]) => ({
      name,
      trainable: p.trainable,
      init: ArrayBuffer.isView(p.init) || Array.isArray(p.init) ? { values: Array.from(p.init as ArrayLike<number>) } : (p.init as GraphJSON['params'][number]['init']),
    })),
    updates: [...g.updates],
  };
}

export function graphFromJSON(json: unknown): Graph {
  let doc: unknown = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json);
    } catch (e) {
      throw new SerializationError(`graph JSON does not parse (truncated or malformed?): ${(e as Error).message}`);
    }
  }
  const r = docSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new SerializationError(`graph JSON is invalid at ${i.path.join('.') || '(root)'}: ${i.message}`);
  }
  const d = r.data;
  const g = new Graph({ seed: d.seed });
  const inits = new Map(d.params.map((p) => [p.name, p]));
  const ts: Tensor[] = [];
  d.nodes.forEach((n, id) => {
    const where = `node #${id} '${n.name}' (${n.op})`;
    if (!(PRIMITIVE_NAMES as readonly string[]).includes(n.op)) throw new SerializationError(`${where}: unknown op '${n.op}'`);
    for (const i of n.inputs) if (i >= id) throw new SerializationError(`${where}: input #${i} is not an earlier node`);
    let t: Tensor;
    try {
      if (n.op === 'input') t = g.input(n.attrs.name as string, n.attrs.shape as (number | string)[], n.attrs.dtype as 'f32');
      else if (n.op === 'param') {
        const p = inits.get(n.attrs.name as string);
        if (!p) throw new SerializationError(`param '${n.attrs.name}' has no entry in params`);
        const init = (typeof p.init === 'object' && 'values' in p.init ? Float32Array.from(p.init.values as number[]) : p.init) as ParamInit;
        t = g.param(n.attrs.name as string, n.attrs.shape as number[], { init, dtype: n.attrs.dtype as 'f32', trainable: p.trainable });
      } else t = g.addNode(n.op as PrimitiveName, n.inputs.map((i) => ts[i]!), n.attrs, n.name);
    } catch (e) {
      if (e instanceof SerializationError) throw new SerializationError(`${where}: ${e.message}`);
      if (e instanceof KilnError) throw new SerializationError(`${where}: ${e.message}`);
      throw e;
    }
    const got = t.node;
    if (got.dtype !== n.dtype || got.shape.length !== n.shape.length || got.shape.some((s, k) => s !== n.shape[k])) {
      throw new SerializationError(`${where}: recorded type ${n.dtype}[${n.shape.join(', ')}] is inconsistent with its inputs (inferred ${got.dtype}[${got.shape.join(', ')}])`);
    }
    ts.push(t);
  });
  for (const u of d.updates) {
    if (d.nodes[u]?.op !== 'assign') throw new SerializationError(`updates: #${u} is not an assign node`);
    g.updates.push(u);
  }
  return g;
}

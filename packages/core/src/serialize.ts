/**
 * Graph JSON: a versioned, zod-validated document. fromJSON rebuilds the graph node by node
 * through the builder, so every node's shape and dtype is re-inferred and checked, and the
 * graph-level rules (reserved names, symbols, state, values per dtype) hold as at build
 * time; the first bad node is named in the error. Input is untrusted: its nesting depth is
 * bounded before anything walks it recursively.
 */
import { z } from 'zod';
import { KilnError, SerializationError } from './errors';
import type { Graph, GraphOptions, IndexRange } from './graph';
import { TRAINING_INPUT } from './options';
import type { ParamInit } from './init';
import { PRIMITIVE_NAMES, type PrimitiveName } from './ops/primitives';
import { spec } from './ops/primitives';
import { ieeeNumber } from './ops/util';
import { type DType, shapeToString } from './shape';
import type { Tensor } from './tensor';

/** Deepest nesting a graph document needs is 6 (doc, nodes, node, attrs, pads, pair). */
export const MAX_JSON_DEPTH = 32;

const dim = z.union([z.number().int().nonnegative(), z.string()]);
const initSchema = z.union([
  z.string(),
  z.object({ name: z.string() }).catchall(ieeeNumber),
  z.object({ constant: ieeeNumber }).strict(),
  z.object({ values: z.array(ieeeNumber) }).strict(),
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
  /** Index ranges recorded by composites (oneHot); gather and scatterAdd re-record theirs. */
  indexRanges: z.array(z.object({ input: z.string(), high: dim, use: z.string(), node: z.number().int().nonnegative() }).strict()).optional(),
}).strict();

/** The JSON document of a graph (Graph.toJSON / Graph.fromJSON). */
export type GraphJSON = z.infer<typeof docSchema>;

/**
 * JSON has no NaN or Infinity (JSON.stringify writes null): in attributes and param values
 * they are written as `{ "ieee": "NaN" | "Infinity" | "-Infinity" }` (-inf masks, NaN sentinels).
 */
function encodeNonFinite(v: unknown): unknown {
  if (typeof v === 'number') return Number.isFinite(v) ? v : { ieee: String(v) };
  if (Array.isArray(v)) return v.some((x) => typeof x !== 'number' || !Number.isFinite(x)) ? v.map(encodeNonFinite) : v;
  if (v !== null && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, encodeNonFinite(x)]));
  return v;
}

/**
 * Inverse of encodeNonFinite; called once the depth is known to be bounded. Copies only the
 * objects and arrays on the way to an encoded number (most documents have none): the
 * caller's document is never changed.
 */
function decodeNonFinite(v: unknown): unknown {
  if (v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = v[i];
      if (x === null || typeof x !== 'object') continue;
      const d = decodeNonFinite(x);
      if (d !== x) (out ??= v.slice())[i] = d;
    }
    return out ?? v;
  }
  const keys = Object.keys(v);
  const o = v as Record<string, unknown>;
  if (keys.length === 1 && keys[0] === 'ieee' && ['NaN', 'Infinity', '-Infinity'].includes(o.ieee as string)) return Number(o.ieee);
  let out: Record<string, unknown> | undefined;
  for (const k of keys) {
    const d = decodeNonFinite(o[k]);
    if (d !== o[k]) (out ??= Object.fromEntries(keys.map((key) => [key, o[key]])))[k] = d;
  }
  return out ?? v;
}

export function graphToJSON(g: Graph): GraphJSON {
  const byNode = (a: IndexRange, b: IndexRange) => a.node - b.node || (a.input < b.input ? -1 : a.input > b.input ? 1 : 0) || (a.use < b.use ? -1 : a.use > b.use ? 1 : 0);
  return {
    format: 'kiln-graph',
    version: 1,
    seed: g.seed,
    nodes: g.nodes.map((n) => ({ op: n.op, name: n.name, inputs: [...n.inputs], attrs: encodeNonFinite(n.attrs) as Record<string, unknown>, shape: [...n.shape], dtype: n.dtype })),
    params: [...g.params].map(([name, p]) => ({
      name,
      trainable: p.trainable,
      init: encodeNonFinite(ArrayBuffer.isView(p.init) || Array.isArray(p.init) ? { values: Array.from(p.init as ArrayLike<number>) } : p.init) as GraphJSON['params'][number]['init'],
    })),
    updates: [...g.updates],
    ...(g.indexRanges.length ? { indexRanges: [...g.indexRanges].sort(byNode).map((r) => ({ ...r })) } : {}),
  };
}

/**
 * Refuse documents nested deeper than MAX_JSON_DEPTH, without recursion, and documents that
 * are not trees (an object reached twice: shared or cyclic; JSON.parse never makes one), so
 * that later walks are bounded by the document's size and depth.
 */
function checkDepth(doc: unknown): void {
  if (doc === null || typeof doc !== 'object') return;
  const stack: object[] = [doc];
  const depths: number[] = [0];
  const seen = new Set<object>();
  while (stack.length) {
    const v = stack.pop()!;
    const depth = depths.pop()!;
    if (seen.has(v)) throw new SerializationError('graph JSON must be a tree: an object or array in it is reached twice (shared or cyclic)');
    if (depth >= MAX_JSON_DEPTH) throw new SerializationError(`graph JSON is nested more than ${MAX_JSON_DEPTH} levels deep (a graph document needs 6)`);
    seen.add(v);
    for (const e of Array.isArray(v) ? v : Object.values(v)) {
      if (e !== null && typeof e === 'object') {
        stack.push(e);
        depths.push(depth + 1);
      }
    }
  }
}

/** `create` makes the empty graph to fill (Graph.fromJSON passes its constructor: no import cycle). */
export function graphFromJSON(json: unknown, create: (options: GraphOptions) => Graph): Graph {
  let doc: unknown = json;
  if (typeof json === 'string') {
    try {
      doc = JSON.parse(json);
    } catch (e) {
      throw new SerializationError(`graph JSON does not parse (truncated or malformed?): ${(e as Error).message.slice(0, 200)}`);
    }
  }
  checkDepth(doc);
  doc = decodeNonFinite(doc);
  const r = docSchema.safeParse(doc);
  if (!r.success) {
    const i = r.error.issues[0]!;
    throw new SerializationError(`graph JSON is invalid at ${i.path.join('.').slice(0, 200) || '(root)'}: ${i.message.slice(0, 200)}`);
  }
  const d = r.data;
  const g = create({ seed: d.seed });
  const inits = new Map(d.params.map((p) => [p.name, p]));
  if (inits.size !== d.params.length) throw new SerializationError('params: a param name is listed twice');
  const ts: Tensor[] = [];
  d.nodes.forEach((n, id) => {
    const where = `node #${id} '${n.name.slice(0, 100)}' (${n.op.slice(0, 40)})`;
    if (!(PRIMITIVE_NAMES as readonly string[]).includes(n.op)) throw new SerializationError(`${where}: unknown op '${n.op.slice(0, 40)}'`);
    for (const i of n.inputs) if (i >= id) throw new SerializationError(`${where}: input #${i} is not an earlier node`);
    let t: Tensor;
    try {
      if (n.op === 'input' || n.op === 'param') {
        // Sources are built by g.input / g.param, which take these attributes one by one:
        // validate the whole record first so that nothing extra is silently dropped.
        const a = spec(n.op).attrs.safeParse(n.attrs);
        if (!a.success) throw new SerializationError(`invalid attributes — ${a.error.issues.map((i) => `${i.path.join('.') || 'attrs'}: ${i.message}`).join('; ').slice(0, 300)}`);
        const { name, shape, dtype } = a.data as { name: string; shape: (number | string)[]; dtype: DType };
        if (n.op === 'input') {
          if (name !== TRAINING_INPUT) t = g.input(name, shape, dtype);
          else if (shape.length === 0 && dtype === 'bool') t = g.isTraining();
          else throw new SerializationError(`the train flag '${TRAINING_INPUT}' must be a bool scalar, got ${dtype}${shapeToString(shape)}`);
        } else {
          const p = inits.get(name);
          if (!p) throw new SerializationError(`param '${name}' has no entry in params`);
          const init = (typeof p.init === 'object' && 'values' in p.init && Array.isArray(p.init.values) ? [...p.init.values] : p.init) as ParamInit;
          t = g.param(name, shape as number[], { init, dtype, trainable: p.trainable });
        }
      } else t = g.addNode(n.op as PrimitiveName, n.inputs.map((i) => ts[i]!), n.attrs, n.name);
    } catch (e) {
      if (e instanceof KilnError) throw new SerializationError(`${where}: ${e.message}`);
      throw e;
    }
    const got = t.node;
    if (got.dtype !== n.dtype || got.shape.length !== n.shape.length || got.shape.some((s, k) => s !== n.shape[k])) {
      throw new SerializationError(`${where}: recorded type ${n.dtype}[${n.shape.join(', ').slice(0, 200)}] is inconsistent with its inputs (inferred ${got.dtype}[${got.shape.join(', ')}])`);
    }
    ts.push(t);
  });
  const unused = d.params.find((p) => g.params.get(p.name) === undefined);
  if (unused) throw new SerializationError(`params: '${unused.name.slice(0, 100)}' has no param node`);
  // The builder registers every assign as an update: the document must list exactly those.
  if (d.updates.length !== g.updates.length || d.updates.some((u, i) => u !== g.updates[i])) {
    const bad = d.updates.find((u) => d.nodes[u]?.op !== 'assign');
    throw new SerializationError(bad !== undefined
      ? `updates: #${bad} is not an assign node`
      : `updates [${d.updates.join(', ').slice(0, 200)}] must list every assign node once, in order: [${g.updates.join(', ')}]`);
  }
  for (const [k, ir] of (d.indexRanges ?? []).entries()) {
    const input = g.inputs.get(ir.input);
    if (input === undefined || ir.input === TRAINING_INPUT) throw new SerializationError(`indexRanges.${k}: '${ir.input.slice(0, 100)}' is not an input`);
    if (ir.node >= g.nodes.length) throw new SerializationError(`indexRanges.${k}: node #${ir.node} does not exist`);
    if (g.nodes[input]!.dtype !== 'i32') throw new SerializationError(`indexRanges.${k}: input '${ir.input}' is ${g.nodes[input]!.dtype}, index ranges constrain i32 inputs`);
    try {
      g.requireIndexRange(g.tensor(input), ir.high, ir.use, g.tensor(ir.node));
    } catch (e) {
      if (e instanceof KilnError) throw new SerializationError(`indexRanges.${k}: ${e.message}`);
      throw e;
    }
  }
  return g;
}

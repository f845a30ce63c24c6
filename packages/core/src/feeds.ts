/**
 * Feed validation shared by every backend: every mistake is a FeedError naming the input,
 * raised before any device work. Also binds symbolic dims from the fed shapes.
 */
import { FeedError } from './errors';
import type { Graph } from './graph';
import { dtypeOfArray, type FeedValue, type TypedArray, toTyped } from './host';
import { type Dim, shapeToString } from './shape';

export interface CheckedFeeds {
  readonly bindings: Map<string, number>;
  readonly values: Map<number, { data: TypedArray; shape: number[]; exact?: readonly number[] }>;
}

export function checkFeeds(g: Graph, feeds: Record<string, FeedValue>, needed: ReadonlySet<string>, implicit: Record<string, FeedValue> = {}): CheckedFeeds {
  if (feeds === null || typeof feeds !== 'object') throw new FeedError(`feeds must be an object keyed by input name, got ${feeds === null ? 'null' : typeof feeds}`);
  for (const name of Object.keys(feeds)) {
    if (!g.inputs.has(name)) {
      const known = [...g.inputs.keys()].filter((n) => !n.startsWith('__'));
      throw new FeedError(`unknown feed '${name}' (inputs: ${known.join(', ') || 'none'})`);
    }
  }
  const all = { ...feeds, ...implicit };
  const bindings = new Map<string, number>();
  const values = new Map<number, { data: TypedArray; shape: number[]; exact?: readonly number[] }>();
  for (const name of needed) {
    const id = g.inputs.get(name)!;
    const node = g.nodes[id]!;
    const v = all[name];
    if (v === undefined) throw new FeedError(`missing feed '${name}' (${node.dtype}${shapeToString(node.shape)})`);
    const raw = Array.isArray(v) || ArrayBuffer.isView(v) ? v : (v as { data: unknown }).data;
    if (!Array.isArray(raw) && !(raw instanceof Float32Array || raw instanceof Int32Array || raw instanceof Uint8Array)) {
      throw new FeedError(`feed '${name}': expected a Float32Array, Int32Array, Uint8Array or number[], got ${Object.prototype.toString.call(raw)}`);
    }
    let data: TypedArray;
    if (Array.isArray(raw)) data = toTyped(node.dtype, raw);
    else {
      const got = dtypeOfArray(raw);
      if (got !== node.dtype) throw new FeedError(`feed '${name}': dtype ${got} (${raw.constructor.name}) does not match input dtype ${node.dtype}`);
      data = raw;
    }
    const given = Array.isArray(v) || ArrayBuffer.isView(v) ? undefined : (v as { shape: readonly number[] }).shape;
    const shape = given ? [...given] : solveShape(name, node.shape, data.length);
    bindShape(name, node.shape, shape, bindings);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new FeedError(`feed '${name}': ${data.length} values do not fill shape ${shapeToString(shape)} (${n})`);
    // number[] feeds keep their float64 values for the reference evaluator (gradient checks).
    values.set(id, Array.isArray(raw) ? { data, shape, exact: raw } : { data, shape });
  }
  return { bindings, values };
}

/** Shape of a flat feed: the static dims fixed, one symbolic dim solved from the length. */
function solveShape(name: string, s: readonly Dim[], length: number): number[] {
  const sym = s.filter((d) => typeof d === 'string');
  const fixed = s.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
  if (sym.length === 0) {
    if (length !== fixed) throw new FeedError(`feed '${name}': got ${length} values, input shape ${shapeToString(s)} needs ${fixed}`);
    return s as number[];
  }
  if (sym.length > 1) throw new FeedError(`feed '${name}': input ${shapeToString(s)} has several symbolic dims; feed { data, shape }`);
  if (fixed === 0 || length % fixed !== 0) throw new FeedError(`feed '${name}': ${length} values are not a whole number of ${shapeToString(s.filter((d) => typeof d === 'number'))} rows for input ${shapeToString(s)}`);
  return s.map((d) => (typeof d === 'number' ? d : length / fixed));
}

function bindShape(name: string, decl: readonly Dim[], shape: readonly number[], bindings: Map<string, number>): void {
  if (decl.length !== shape.length) throw new FeedError(`feed '${name}': rank ${shape.length} shape ${shapeToString(shape)} does not match input ${shapeToString(decl)}`);
  decl.forEach((d, i) => {
    const got = shape[i]!;
    if (typeof d === 'number') {
      if (d !== got) throw new FeedError(`feed '${name}': shape ${shapeToString(shape)} does not match input ${shapeToString(decl)} at dim ${i}`);
      return;
    }
    const prev = bindings.get(d);
    if (prev !== undefined && prev !== got) throw new FeedError(`feed '${name}': dim '${d}' is ${got} here but ${prev} in another feed`);
    bindings.set(d, got);
  });
}

/** Attributes with symbolic dims bound (shape-like attrs: `shape`, `dims`). */
export function bindAttrs(attrs: Record<string, unknown>, bindings: ReadonlyMap<string, number>): Record<string, unknown> {
  let out = attrs;
  for (const key of ['shape', 'dims']) {
    const v = attrs[key];
    if (Array.isArray(v) && v.some((d) => typeof d === 'string')) {
      out = { ...out, [key]: v.map((d) => (typeof d === 'string' ? bindings.get(d) ?? d : d)) };
    }
  }
  return out;
}

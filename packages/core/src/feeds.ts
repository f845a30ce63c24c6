/**
 * Feed validation shared by every backend: every mistake is a FeedError naming the input,
 * raised before any device work. Also binds symbolic dims from the fed shapes, and checks
 * fed indices and class labels against the range their consumers accept (Graph.indexRanges).
 */
import { FeedError } from './errors';
import { type Graph, type IndexRange, MAX_ELEMENTS, RESERVED_PREFIX } from './graph';
import { dtypeOfArray, type FeedValue, type TypedArray, toTyped } from './host';
import { type Dim, shapeToString } from './shape';

export interface CheckedFeeds {
  readonly bindings: Map<string, number>;
  readonly values: Map<number, { data: TypedArray; shape: number[]; exact?: readonly number[] }>;
}

const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/**
 * Validate `feeds` for a run that reads the inputs named in `needed`. `implicit` feeds are
 * Kiln's own (the train flag). `live` is the set of node ids the run computes: an index-range
 * constraint applies only when its consumer runs; without `live`, all of them apply.
 */
export function checkFeeds(
  g: Graph, feeds: Record<string, FeedValue>, needed: ReadonlySet<string>,
  implicit: Record<string, FeedValue> = {}, live?: ReadonlySet<number>,
): CheckedFeeds {
  if (feeds === null || typeof feeds !== 'object' || Array.isArray(feeds)) {
    throw new FeedError(`feeds must be an object keyed by input name, got ${feeds === null ? 'null' : Array.isArray(feeds) ? 'an array' : typeof feeds}`);
  }
  for (const name of Object.keys(feeds)) {
    // Reserved inputs (the train flag) are Kiln's to feed: a user feed for one would be ignored.
    if (!g.inputs.has(name) || name.startsWith(RESERVED_PREFIX)) {
      const known = [...g.inputs.keys()].filter((n) => !n.startsWith(RESERVED_PREFIX));
      throw new FeedError(`unknown feed '${name.slice(0, 100)}' (inputs: ${known.join(', ') || 'none'})`);
    }
  }
  const all: Record<string, FeedValue> = { ...feeds, ...implicit };
  const bindings = new Map<string, number>();
  const values = new Map<number, { data: TypedArray; shape: number[]; exact?: readonly number[] }>();
  const check = (name: string): void => {
    const id = g.inputs.get(name)!;
    const node = g.nodes[id]!;
    const v = Object.hasOwn(all, name) ? all[name] : undefined;
    if (v === undefined) throw new FeedError(`missing feed '${name}' (${node.dtype}${shapeToString(node.shape)})`);
    const flat = Array.isArray(v) || ArrayBuffer.isView(v);
    if (!flat && (v === null || typeof v !== 'object')) throw new FeedError(`feed '${name}': expected a typed array, a number[] or { data, shape }, got ${v === null ? 'null' : typeof v}`);
    const raw: unknown = flat ? v : (v as { data: unknown }).data;
    if (!Array.isArray(raw) && !(raw instanceof Float32Array || raw instanceof Int32Array || raw instanceof Uint8Array)) {
      throw new FeedError(`feed '${name}': expected a Float32Array, Int32Array, Uint8Array or number[], got ${Object.prototype.toString.call(raw)}`);
    }
    let data: TypedArray;
    if (Array.isArray(raw)) {
      checkNumbers(name, node.dtype, raw);
      data = toTyped(node.dtype, raw);
    } else {
      const got = dtypeOfArray(raw);
      if (got !== node.dtype) throw new FeedError(`feed '${name}': dtype ${got} (${raw.constructor.name}) does not match input dtype ${node.dtype}`);
      data = raw;
    }
    const given = flat ? undefined : (v as { shape?: unknown }).shape;
    const shape = given === undefined ? solveShape(name, node.shape, data.length) : checkFedShape(name, given);
    bindShape(name, node.shape, shape, bindings);
    const n = shape.reduce((a, b) => a * b, 1);
    if (n !== data.length) throw new FeedError(`feed '${name}': ${data.length} values do not fill shape ${shapeToString(shape)} (${n})`);
    // number[] feeds keep their float64 values for the reference evaluator (gradient checks).
    values.set(id, Array.isArray(raw) ? { data, shape, exact: raw as number[] } : { data, shape });
  };
  for (const name of needed) check(name);
  if (live) {
    // A symbol the run needs may come from an input it does not read (a fill of ['batch'], a
    // mean over 'batch'): bind it from that input's feed, or say which feed is missing.
    for (const sym of liveSymbols(g, live)) {
      if (bindings.has(sym)) continue;
      const definers = [...g.inputs.keys()].filter((n) => g.nodes[g.inputs.get(n)!]!.shape.includes(sym));
      const fed = definers.find((n) => Object.hasOwn(feeds, n) && !values.has(g.inputs.get(n)!));
      if (fed === undefined) throw new FeedError(`this run needs dim '${sym}', which no feed binds: feed ${definers.map((n) => `'${n}'`).join(' or ')}`);
      check(fed);
    }
  }
  if (live && bindings.size) checkSizes(g, live, bindings);
  for (const r of g.indexRanges) {
    if (!needed.has(r.input) || (live && !live.has(r.node))) continue;
    const high = typeof r.high === 'number' ? r.high : bindings.get(r.high);
    if (high === undefined) continue; // bound by no feed of this run: nothing to check against
    const fed = values.get(g.inputs.get(r.input)!)!;
    checkRange(r, high, fed.data, fed.shape);
  }
  return { bindings, values };
}

/** Symbolic dims the nodes of a run use, in their shapes or shape-like attributes. */
function liveSymbols(g: Graph, live: ReadonlySet<number>): Set<string> {
  const out = new Set<string>();
  for (const id of live) {
    const n = g.nodes[id]!;
    for (const d of n.shape) if (typeof d === 'string') out.add(d);
    for (const key of ['shape', 'dims']) {
      const v = n.attrs[key];
      if (Array.isArray(v)) for (const d of v) if (typeof d === 'string') out.add(d);
    }
  }
  return out;
}

/** Fed dims may not make any tensor of the run larger than a kernel can index. */
function checkSizes(g: Graph, live: ReadonlySet<number>, bindings: ReadonlyMap<string, number>): void {
  for (const id of live) {
    const shape = g.nodes[id]!.shape;
    if (shape.every((d) => typeof d === 'number')) continue;
    const n = shape.reduce<number>((a, d) => a * (typeof d === 'number' ? d : bindings.get(d) ?? 1), 1);
    if (n > MAX_ELEMENTS) {
      const fed = shape.filter((d) => typeof d === 'string').map((d) => `'${d}' = ${bindings.get(d as string)}`).join(', ');
      throw new FeedError(`feeds bind ${fed}, which makes node #${id} (${g.nodes[id]!.op}) ${shapeToString(shape)} hold ${n} elements, more than the ${MAX_ELEMENTS} a tensor may hold`);
    }
  }
}

/** number[] feeds: numbers only, and for i32 integers that fit (no silent truncation or wrap). */
function checkNumbers(name: string, dtype: string, raw: readonly unknown[]): void {
  for (let i = 0; i < raw.length; i++) {
    const x = raw[i];
    if (typeof x !== 'number' && typeof x !== 'boolean') throw new FeedError(`feed '${name}': element ${i} is ${typeof x}, not a number`);
    if (dtype === 'i32' && !(Number.isInteger(x) && (x as number) >= I32_MIN && (x as number) <= I32_MAX)) {
      throw new FeedError(`feed '${name}': element ${i} is ${String(x)}, not an i32 (integers in [${I32_MIN}, ${I32_MAX}])`);
    }
  }
}

/** A fed `{ data, shape }` shape: an array of non-negative integers. */
function checkFedShape(name: string, given: unknown): number[] {
  if (!Array.isArray(given)) throw new FeedError(`feed '${name}': shape must be an array of non-negative integers, got ${typeof given}`);
  given.forEach((d, i) => {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      throw new FeedError(`feed '${name}': dim ${i} of the fed shape is ${typeof d === 'number' ? d : typeof d}; every dim must be a non-negative integer`);
    }
  });
  return [...given] as number[];
}

function checkRange(r: IndexRange, high: number, data: TypedArray, shape: readonly number[]): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i]!;
    if (v >= 0 && v < high) continue;
    const at: number[] = [];
    for (let k = shape.length - 1, rest = i; k >= 0; k--) {
      at.unshift(rest % shape[k]!);
      rest = Math.floor(rest / shape[k]!);
    }
    throw new FeedError(`feed '${r.input}': value ${v} at position [${at.join(', ')}] is out of range for ${r.use}: valid range is [0, ${high})${typeof r.high === 'string' ? ` ('${r.high}' = ${high})` : ''}`);
  }
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

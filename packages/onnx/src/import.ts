/**
 * ONNX model -> Kiln graph. Nodes are visited in the file's order (ONNX requires a topological
 * one; a node reading a value not yet defined is a SerializationError, which is also how a
 * cyclic graph is refused), each through the op table in ops.ts.
 */
import { type DType, evaluate, Graph, KilnError, type Shape, SerializationError, type Tensor, UnsupportedError } from '@kiln/core';
import { OP_TABLE, type OpContext } from './ops';
import { decodeModel, int64, type AttributeProto, type ModelProto, type ValueInfoProto } from './proto';
import { fromTensorProto, type HostTensor, kilnDType } from './tensor';

export interface ImportOptions {
  /** Float initializers become trainable params (default true); false makes them frozen params. */
  trainable?: boolean;
  /**
   * Values for graph inputs that must be known when the graph is built. Kiln's shapes are
   * static, so an input that an op reads as a shape, axes or count (Reshape's shape, Slice's
   * starts, TopK's k, ...) becomes a constant; the error for such an input names it.
   */
  constants?: Record<string, HostTensor>;
  /** A graph seed (random initialisers and dropout); default 0. */
  seed?: number;
}

/** What importModel returns: the graph, and its inputs and outputs keyed by ONNX names. */
export interface ImportedModel {
  graph: Graph;
  inputs: Record<string, Tensor>;
  outputs: Record<string, Tensor>;
  /** The default-domain opset the model declares. */
  opset: number;
}

/** An input whose value an op needs at build time (see ImportOptions.constants). */
export class StaticInputError extends UnsupportedError {
  constructor(message: string, readonly input: string) { super(message); }
}


function inputShape(v: ValueInfoProto, where: string): { shape: Shape; dtype: DType } {
  const tt = v.type?.tensor_type;
  if (!tt) throw new UnsupportedError(`${where}: only tensor-typed inputs and outputs are supported`);
  const dtype = kilnDType(tt.elem_type ?? 0, where);
  if (!tt.shape) throw new UnsupportedError(`${where}: the input has no shape (Kiln's graphs need each input's rank)`);
  const shape = (tt.shape.dim ?? []).map((d, i): number | string => {
    if (d.dim_param) return d.dim_param;
    if (d.dim_value === undefined || d.dim_value === null) throw new UnsupportedError(`${where}: dim ${i} has neither a size nor a name`);
    const n = int64(d.dim_value, `${where} dim ${i}`);
    if (n < 0 || n > 2 ** 31) throw new SerializationError(`${where}: dim ${i} is ${n}`);
    return n;
  });
  return { shape, dtype };
}

/**
 * Build a Kiln graph from the bytes of a .onnx file (ModelProto, opset 1 or later of the default
 * domain). Float initializers become params named as in the file (`trainable` option), other
 * initializers constants; graph inputs become `g.input`s with the file's names and shapes
 * (named dims become symbolic dims).
 *
 * Throws SerializationError for bytes that are not a well-formed model (truncated, wrong
 * types, a value used before it is defined or defined twice, a missing initializer, external
 * data), UnsupportedError naming the op type, node and opset for an op or attribute Kiln
 * cannot express, and StaticInputError for an input that must be passed in `constants`.
 *
 * @example
 *   const m = onnx.importModel(bytes, { trainable: true });
 *   const exe = await compile(m.graph, { backend: 'auto' });
 *   const out = await exe.run({ input: x }, m.outputs);
 */
export function importModel(bytes: Uint8Array, options: ImportOptions = {}): ImportedModel {
  const model: ModelProto = decodeModel(bytes);
  const graph = model.graph;
  if (!graph) throw new SerializationError('onnx model: no graph');
  const opsets = new Map<string, number>();
  for (const o of model.opset_import ?? []) opsets.set(o.domain === 'ai.onnx' ? '' : o.domain ?? '', int64(o.version, 'opset_import version'));
  const ir = int64(model.ir_version, 'ir_version');
  // IR 1-2 files may omit opset_import (they mean opset 1); later ones must name it
  const opset = opsets.get('') ?? (ir >= 3 ? 0 : 1);
  if (opset < 1) throw new SerializationError(`onnx model: no opset for the default domain in opset_import (ir_version ${ir})`);

  const g = new Graph({ seed: options.seed ?? 0 });
  const values = new Map<string, Tensor>();
  const host = new Map<number, HostTensor>();
  const define = (name: string, t: Tensor, where: string) => {
    if (!name) return;
    if (values.has(name)) throw new SerializationError(`${where}: value '${name}' is defined twice`);
    values.set(name, t);
  };
  const constant = (h: HostTensor): Tensor => {
    const t = g.constant(h.data as ArrayLike<number>, h.dims, h.dtype);
    host.set(t.id, h);
    return t;
  };

  // ONNX element types by value name: Kiln's dtypes lose the width, which CastLike needs.
  const types = new Map<string, number>();
  for (const v of [...(graph.value_info ?? []), ...(graph.output ?? []), ...(graph.input ?? [])]) {
    const code = v.type?.tensor_type?.elem_type;
    if (v.name && code) types.set(v.name, code);
  }
  const initNames = new Set<string>();
  for (const [i, init] of (graph.initializer ?? []).entries()) {
    const where = `initializer #${i} '${init.name ?? ''}'`;
    if (!init.name) throw new SerializationError(`${where}: has no name`);
    const h = fromTensorProto(init, where);
    if (initNames.has(init.name)) throw new SerializationError(`${where}: the name is used by another initializer`);
    initNames.add(init.name);
    if (init.data_type) types.set(init.name, init.data_type);
    const t = h.dtype === 'f32' && h.dims.every((d) => d > 0)
      ? g.param(init.name, h.dims, { init: h.data as Float32Array, trainable: options.trainable ?? true })
      : constant(h);
    if (h.dtype === 'f32') host.set(t.id, h);
    define(init.name, t, where);
  }
  if ((graph.sparse_initializer?.length ?? 0) > 0) throw new UnsupportedError('onnx model: sparse initializers are not supported');

  const inputs: Record<string, Tensor> = {};
  for (const [i, v] of (graph.input ?? []).entries()) {
    const name = v.name ?? '';
    const where = `graph input #${i} '${name}'`;
    if (!name) throw new SerializationError(`${where}: has no name`);
    if (initNames.has(name)) continue; // IR < 4 lists initializers among the inputs
    const given = options.constants?.[name];
    const { shape, dtype } = inputShape(v, where);
    if (given) {
      const data = dtype === 'f32' ? Float32Array.from(given.data) : dtype === 'i32' ? Int32Array.from(given.data) : Uint8Array.from(given.data, (v) => (v ? 1 : 0));
      define(name, constant({ dtype, dims: [...given.dims], data }), where);
      continue;
    }
    const t = g.input(name, shape, dtype);
    define(name, t, where);
    inputs[name] = t;
  }

  const nodes = graph.node ?? [];
  for (const [i, node] of nodes.entries()) {
    const type = node.op_type ?? '';
    const domain = node.domain === 'ai.onnx' ? '' : node.domain ?? '';
    const where = `node #${i} '${node.name ?? ''}' (${type}, opset ${opset})`;
    if (domain !== '') throw new UnsupportedError(`${where}: domain '${domain}' is not supported (only the default ONNX domain)`);
    const impl = OP_TABLE[type];
    if (!impl) throw new UnsupportedError(`${where}: op type ${type} is not supported`);
    const ins = (node.input ?? []).map((name, k): Tensor | undefined => {
      if (!name) return undefined; // an omitted optional input
      const t = values.get(name);
      if (!t) throw new SerializationError(`${where}: input ${k} '${name}' is not defined before this node (missing initializer or input, or a cycle)`);
      return t;
    });
    const ctx: OpContext = {
      g, opset, where, node, inputs: ins, nOutputs: (node.output ?? []).length,
      outputsWanted: (node.output ?? []).map((n) => n !== ''),
      attrs: attrMap(node.attribute ?? [], where),
      constant,
      onnxType: (k) => {
        const name = node.input?.[k] ?? '';
        return types.get(name) ?? { f32: 1, i32: 7, bool: 9 }[ins[k]?.dtype ?? 'f32'];
      },
      hostOf: (t, what) => hostValue(g, host, inputs, t, what, where),
    };
    let outs: (Tensor | undefined)[];
    try {
      outs = impl(ctx);
    } catch (e) {
      // a Kiln builder error names Kiln's node; say which ONNX node it came from
      if (e instanceof KilnError && !(e instanceof StaticInputError) && !e.message.startsWith(where)) {
        const E = e.constructor as new (m: string) => KilnError;
        throw new E(`${where}: ${e.message}`);
      }
      throw e;
    }
    for (const [k, name] of (node.output ?? []).entries()) {
      if (!name) continue;
      const t = outs[k];
      if (!t) throw new UnsupportedError(`${where}: output ${k} '${name}' is not supported`);
      define(name, t, where);
      if (type === 'Cast' && !types.has(name)) types.set(name, Number(ctx.attrs.get('to')));
    }
  }

  const outputs: Record<string, Tensor> = {};
  for (const [i, v] of (graph.output ?? []).entries()) {
    const name = v.name ?? '';
    const t = values.get(name);
    if (!t) throw new SerializationError(`graph output #${i} '${name}': no node or input defines it`);
    outputs[name] = t;
  }
  return { graph: g, inputs, outputs, opset };
}

/** Attributes by name, decoded to numbers, strings, arrays and host tensors. */
export type AttrValue = number | string | number[] | string[] | HostTensor;
function attrMap(list: AttributeProto[], where: string): Map<string, AttrValue> {
  const m = new Map<string, AttrValue>();
  // NOTE: protobufjs gives an absent bytes field as its default, which may be a plain empty array
  const text = (b: ArrayLike<number> | undefined) => new TextDecoder().decode(Uint8Array.from(b ?? []));
  for (const a of list) {
    const name = a.name ?? '';
    if (a.ref_attr_name) throw new UnsupportedError(`${where}: attribute '${name}' refers to a function attribute`);
    const w = `${where} attribute '${name}'`;
    switch (a.type) {
      case 1: m.set(name, a.f ?? 0); break;
      case 2: m.set(name, int64(a.i, w)); break;
      case 3: m.set(name, text(a.s)); break;
      case 4: if (!a.t) throw new SerializationError(`${w}: no tensor`); m.set(name, fromTensorProto(a.t, w)); break;
      case 6: m.set(name, [...(a.floats ?? [])]); break;
      case 7: m.set(name, (a.ints ?? []).map((v) => int64(v, w))); break;
      case 8: m.set(name, (a.strings ?? []).map(text)); break;
      case 5: case 10: throw new UnsupportedError(`${w}: graph attributes (control flow) are not supported`);
      default: throw new UnsupportedError(`${w}: attribute type ${a.type} is not supported`);
    }
  }
  return m;
}

/**
 * The values of a tensor known at build time: an initializer, a Constant, an input given in
 * `constants`, or anything computed from those alone (evaluated once on Kiln's float64
 * reference evaluator).
 */
function hostValue(g: Graph, host: Map<number, HostTensor>, inputs: Record<string, Tensor>, t: Tensor, what: string, where: string): HostTensor {
  const known = host.get(t.id);
  if (known) return known;
  const need = new Set<number>([t.id]);
  for (let id = t.id; id >= 0; id--) {
    if (!need.has(id)) continue;
    const n = g.nodes[id]!;
    if (n.op === 'input') {
      const name = Object.keys(inputs).find((k) => inputs[k]!.id === id) ?? n.name;
      throw new StaticInputError(`${where}: ${what} must be known when the graph is built, but it depends on input '${name}' (pass it in importModel's options.constants)`, name);
    }
    if (n.op === 'random') throw new UnsupportedError(`${where}: ${what} depends on random values`);
    for (const i of n.inputs) need.add(i);
  }
  const size = t.shape.reduce<number>((a, b) => a * (typeof b === 'number' ? b : Infinity), 1);
  if (size > 2 ** 24) throw new UnsupportedError(`${where}: ${what} has ${size} elements, too many to compute on the host at import`);
  const value = evaluate(g, {}, { v: t }).v.data;
  const h: HostTensor = {
    dtype: t.dtype, dims: t.shape as number[],
    data: t.dtype === 'f32' ? Float32Array.from(value) : t.dtype === 'i32' ? Int32Array.from(value) : Uint8Array.from(value),
  };
  host.set(t.id, h);
  return h;
}


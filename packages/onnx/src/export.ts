/**
 * Kiln graph -> ONNX model (opset 18). Every node the outputs need becomes ONNX nodes; params
 * and constants become initializers. Kiln's training-only primitives (gradients of conv and
 * pooling, assign, random) are an UnsupportedError naming the node, never left out silently.
 */
import { args, describeValue, type DType, Graph, initialParam, OptionsError, type Node, type Tensor, TRAINING_INPUT, UnsupportedError, GraphError } from '@kiln/core';
import { encodeModel, type NodeProto, type TensorProto, type ValueInfoProto, type AttributeProto } from './proto';
import { ONNX_DTYPE, ONNX_OF, toTensorProto } from './tensor';

export const EXPORT_OPSET = 18;

export interface ExportOptions {
  /** Graph inputs by the ONNX name they get. Every input the outputs depend on must be named here. */
  inputs: Record<string, Tensor>;
  /** Outputs by the ONNX name they get. */
  outputs: Record<string, Tensor>;
  /**
   * Param values to write (e.g. `(await exe.snapshot()).params` after training), by param name;
   * params not listed are written with their initial values.
   */
  params?: Record<string, ArrayLike<number>> | Map<string, { data: ArrayLike<number> }>;
  /** The graph's name in the file; default 'kiln'. */
  name?: string;
}

/**
 * exportModel's arguments, checked before any work (as core's op arguments are): a missing or
 * malformed one is an OptionsError naming it, a non-Tensor in inputs/outputs a GraphError.
 */
// NOTE: by hand, not with a zod schema as ops/args.ts does: @kiln/onnx does not depend on zod.
function checkExportArgs(graph: unknown, options: unknown): void {
  const bad = (what: string, expected: string, v: unknown) => new OptionsError(`exportModel: ${what}: expected ${expected}, got ${describeValue(v)}`);
  if (!(graph instanceof Graph)) throw bad("argument 'graph'", 'a Graph', graph);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw bad("argument 'options'", 'an options object { inputs, outputs }', options);
  const o = options as Record<string, unknown>;
  const known = ['inputs', 'outputs', 'params', 'name'];
  const unknown = Object.keys(o).filter((k) => !known.includes(k));
  if (unknown.length) throw new OptionsError(`exportModel: unknown option '${unknown[0]}' (options: ${known.join(', ')})`);
  for (const field of ['inputs', 'outputs']) {
    const v = o[field];
    if (typeof v !== 'object' || v === null || Array.isArray(v) || args.isTensor(v)) throw bad(`options.${field}`, 'an object of Tensors by name', v);
    for (const [name, t] of Object.entries(v)) if (!args.isTensor(t)) throw new GraphError(`exportModel: options.${field}.${name}: expected a Tensor, got ${describeValue(t)}`);
  }
  if (Object.keys(o['outputs'] as object).length === 0) throw new OptionsError('exportModel: options.outputs: expected at least one output');
  if (o['params'] !== undefined && (typeof o['params'] !== 'object' || o['params'] === null)) throw bad('options.params', 'an object or Map of param values by name', o['params']);
  if (o['name'] !== undefined && (typeof o['name'] !== 'string' || o['name'] === '')) throw bad('options.name', 'a non-empty string', o['name']);
}

type Attr = number | string | number[] | TensorProto;
function attribute(name: string, v: Attr): AttributeProto {
  if (typeof v === 'string') return { name, type: 3, s: new TextEncoder().encode(v) };
  if (Array.isArray(v)) return { name, type: 7, ints: v };
  if (typeof v === 'number') return Number.isInteger(v) && !name.startsWith('f:') ? { name, type: 2, i: v } : { name: name.replace(/^f:/, ''), type: 1, f: v };
  return { name, type: 4, t: v };
}

/**
 * Write a Kiln inference graph as an ONNX model (bytes of a .onnx file, opset 18).
 * Shapes with symbolic dims become named dims (`dim_param`). Throws OptionsError for a
 * missing or malformed argument or option (naming the field), GraphError for an input
 * the outputs need that `inputs` does not name, UnsupportedError for a primitive ONNX has no
 * counterpart for (training-only ops, random numbers).
 *
 * @example
 *   const bytes = onnx.exportModel(g, { inputs: { x }, outputs: { logits } });
 *   fs.writeFileSync('model.onnx', bytes);
 */
export function exportModel(graph: Graph, options: ExportOptions): Uint8Array {
  checkExportArgs(graph, options);
  const g = graph;
  const inputName = new Map<number, string>();
  for (const [name, t] of Object.entries(options.inputs)) {
    if (t.graph !== g || t.node.op !== 'input') throw new GraphError(`exportModel: inputs.${name} is not an input of this graph`);
    inputName.set(t.id, name);
  }
  const roots = Object.values(options.outputs).map((t) => {
    if (t.graph !== g) throw new GraphError('exportModel: an output belongs to another graph');
    return t.id;
  });
  const nodes: NodeProto[] = [];
  const inits: TensorProto[] = [];
  const names = new Map<number, string>();
  let counter = 0;
  const fresh = (base: string) => `kiln_${base}_${counter++}`;
  const paramValues = (name: string): ArrayLike<number> | undefined => {
    const p = options.params;
    if (!p) return undefined;
    if (p instanceof Map) return p.get(name)?.data;
    return p[name];
  };
  const init = (name: string, dtype: DType, dims: number[], data: ArrayLike<number>): string => {
    const arr = dtype === 'f32' ? Float32Array.from(data) : dtype === 'i32' ? Int32Array.from(data) : Uint8Array.from(data);
    inits.push(toTensorProto(name, { dtype, dims, data: arr }));
    return name;
  };
  const int64s = (values: number[], base = 'shape'): string => {
    const name = fresh(base);
    const raw = new Uint8Array(values.length * 8);
    const dv = new DataView(raw.buffer);
    values.forEach((v, i) => dv.setBigInt64(i * 8, BigInt(v), true));
    inits.push({ name, dims: [values.length], data_type: ONNX_DTYPE.INT64, raw_data: raw });
    return name;
  };
  const emit = (op: string, ins: string[], attrs: Record<string, Attr> = {}, out?: string): string => {
    const o = out ?? fresh(op.toLowerCase());
    nodes.push({ op_type: op, name: o, input: ins, output: [o], attribute: Object.entries(attrs).map(([k, v]) => attribute(k, v)) });
    return o;
  };
  // symbolic dims come from the first exported input that has them
  const symbolSource = (sym: string): string => {
    for (const [id, name] of inputName) {
      const axis = g.nodes[id]!.shape.indexOf(sym);
      if (axis >= 0) return emit('Cast', [emit('Shape', [name], { start: axis, end: axis + 1 })], { to: ONNX_DTYPE.FLOAT });
    }
    throw new UnsupportedError(`exportModel: symbolic dim '${sym}' belongs to no exported input`);
  };
  /** A shape for Reshape: symbolic dims copy the input's dim (0) when in place, else -1 once. */
  const shapeArg = (target: readonly (number | string)[], from: readonly (number | string)[], what: string): string => {
    let minus = false;
    const dims = target.map((d, i) => {
      if (typeof d === 'number') return d;
      if (from[i] === d) return 0;
      if (minus) throw new UnsupportedError(`exportModel: ${what} needs two inferred dims in [${target.join(', ')}]`);
      minus = true;
      return -1;
    });
    if (target.some((d) => d === 0)) throw new UnsupportedError(`exportModel: ${what} reshapes to a 0-sized dim, which ONNX's Reshape reads as "copy"`);
    return int64s(dims, 'shape');
  };

  // the nodes the outputs need, in id (topological) order
  const need = new Set<number>(roots);
  for (let id = Math.max(-1, ...roots); id >= 0; id--) {
    if (!need.has(id)) continue;
    const n = g.nodes[id]!;
    if (n.op === 'where' && isTrainingFlag(g, n.inputs[0]!)) { need.add(n.inputs[2]!); continue; } // export is inference: take the else branch
    for (const i of n.inputs) need.add(i);
  }

  const inputsOut: ValueInfoProto[] = [];
  for (const id of [...need].sort((a, b) => a - b)) {
    const n = g.nodes[id]!;
    const name = exportNode(id, n);
    names.set(id, name);
  }

  function exportNode(id: number, n: Node): string {
    const a = n.attrs as Record<string, unknown>;
    const x = (k: number) => names.get(n.inputs[k]!)!;
    const inNode = (k: number) => g.nodes[n.inputs[k]!]!;
    const where = `exportModel: node #${id} '${n.name}' (${n.op})`;
    switch (n.op) {
      case 'input': {
        const nm = inputName.get(id);
        if (n.name === TRAINING_INPUT) return init(fresh('training'), 'bool', [], [0]);
        if (!nm) throw new GraphError(`${where}: the outputs depend on input '${n.name}', which options.inputs does not name`);
        inputsOut.push(valueInfo(nm, n));
        return nm;
      }
      case 'param': {
        const v = paramValues(n.name) ?? initialParam(g, n.name);
        return init(n.name, n.dtype, n.shape as number[], v);
      }
      case 'constant': return init(fresh('const'), n.dtype, n.shape as number[], a.value as number[]);
      case 'fill': {
        if (!n.shape.every((d) => typeof d === 'number')) {
          const shape = emit('Concat', n.shape.map((d) => (typeof d === 'number' ? int64s([d]) : emit('Cast', [symbolSource(d)], { to: ONNX_DTYPE.INT64 }))), { axis: 0 });
          return emit('ConstantOfShape', [shape], { value: toTensorProto('value', { dtype: n.dtype, dims: [1], data: n.dtype === 'f32' ? Float32Array.of(a.value as number) : n.dtype === 'i32' ? Int32Array.of(a.value as number) : Uint8Array.of(a.value ? 1 : 0) }) });
        }
        const size = (n.shape as number[]).reduce((p, q) => p * q, 1);
        return init(fresh('fill'), n.dtype, n.shape as number[], new Array(size).fill(a.value));
      }
      case 'dimSize': {
        const dims = a.dims as (number | string)[];
        const fixed = dims.filter((d): d is number => typeof d === 'number').reduce((p, q) => p * q, 1);
        let out = init(fresh('dimsize'), 'f32', [], [fixed]);
        for (const d of dims) if (typeof d === 'string') out = emit('Mul', [out, emit('Reshape', [symbolSource(d), int64s([])])]);
        return out;
      }
      case 'random': throw new UnsupportedError(`${where}: random numbers have no ONNX counterpart Kiln exports (export an inference graph)`);
      case 'neg': return emit('Neg', [x(0)]);
      case 'abs': return emit('Abs', [x(0)]);
      case 'sign': return emit('Sign', [x(0)]);
      case 'exp': return emit('Exp', [x(0)]);
      case 'log': return emit('Log', [x(0)]);
      case 'sqrt': return emit('Sqrt', [x(0)]);
      case 'rsqrt': return emit('Reciprocal', [emit('Sqrt', [x(0)])]);
      case 'square': return emit('Mul', [x(0), x(0)]);
      case 'reciprocal': return emit('Reciprocal', [x(0)]);
      case 'sin': return emit('Sin', [x(0)]);
      case 'cos': return emit('Cos', [x(0)]);
      case 'relu': return emit('Relu', [x(0)]);
      case 'leakyRelu': return emit('LeakyRelu', [x(0)], { 'f:alpha': a.alpha as number });
      case 'elu': return emit('Elu', [x(0)], { 'f:alpha': a.alpha as number });
      case 'sigmoid': return emit('Sigmoid', [x(0)]);
      case 'tanh': return emit('Tanh', [x(0)]);
      case 'gelu': {
        // x * Phi(x) = x * (1 + erf(x / sqrt 2)) / 2 (Gelu is opset 20)
        const e = emit('Erf', [emit('Mul', [x(0), init(fresh('c'), 'f32', [], [Math.SQRT1_2])])]);
        return emit('Mul', [emit('Mul', [x(0), init(fresh('c'), 'f32', [], [0.5])]), emit('Add', [e, init(fresh('c'), 'f32', [], [1])])]);
      }
      case 'erf': return emit('Erf', [x(0)]);
      case 'softplus': return emit('Softplus', [x(0)]);
      case 'softsign': return emit('Softsign', [x(0)]);
      case 'add': return emit('Add', [x(0), x(1)]);
      case 'sub': return emit('Sub', [x(0), x(1)]);
      case 'mul': return emit('Mul', [x(0), x(1)]);
      case 'div': return emit('Div', [x(0), x(1)]);
      case 'pow': return emit('Pow', [x(0), x(1)]);
      case 'maximum': return emit('Max', [x(0), x(1)]);
      case 'minimum': return emit('Min', [x(0), x(1)]);
      case 'equal': return emit('Equal', [x(0), x(1)]);
      case 'notEqual': return emit('Not', [emit('Equal', [x(0), x(1)])]);
      case 'less': return emit('Less', [x(0), x(1)]);
      case 'lessEqual': return emit('LessOrEqual', [x(0), x(1)]);
      case 'greater': return emit('Greater', [x(0), x(1)]);
      case 'greaterEqual': return emit('GreaterOrEqual', [x(0), x(1)]);
      case 'logicalAnd': return emit('And', [x(0), x(1)]);
      case 'logicalOr': return emit('Or', [x(0), x(1)]);
      case 'logicalNot': return emit('Not', [x(0)]);
      case 'isNaN': return emit('IsNaN', [x(0)]);
      case 'stopGradient': return emit('Identity', [x(0)]);
      case 'cast': {
        const to = a.dtype as DType;
        if (to === 'bool') return emit('Not', [emit('Equal', [x(0), init(fresh('zero'), inNode(0).dtype, [], [0])])]);
        return emit('Cast', [x(0)], { to: ONNX_OF[to] });
      }
      case 'where': {
        if (isTrainingFlag(g, n.inputs[0]!)) return x(2);
        return emit('Where', [x(0), x(1), x(2)]);
      }
      case 'reshape': return emit('Reshape', [x(0), shapeArg(n.shape, inNode(0).shape, where)]);
      case 'transpose': return emit('Transpose', [x(0)], { perm: (a.perm as number[] | undefined) ?? inNode(0).shape.map((_, i) => inNode(0).shape.length - 1 - i) });
      case 'broadcastTo': return emit('Expand', [x(0), int64s(n.shape.map((d) => (typeof d === 'number' ? d : 1)))]);
      case 'slice': {
        const begin = a.begin as number[], size = a.size as number[];
        const inShape = inNode(0).shape;
        const ends = begin.map((b, i) => (size[i] === -1 ? (typeof inShape[i] === 'number' ? (inShape[i] as number) : 2 ** 62) : b + size[i]!));
        return emit('Slice', [x(0), int64s(begin, 'starts'), int64s(ends, 'ends'), int64s(begin.map((_, i) => i), 'axes')]);
      }
      case 'pad': {
        const pads = a.pads as [number, number][];
        const value = init(fresh('padvalue'), n.dtype, [], [a.value as number]);
        return emit('Pad', [x(0), int64s([...pads.map((p) => p[0]), ...pads.map((p) => p[1])], 'pads'), value], { mode: 'constant' });
      }
      case 'concat': return emit('Concat', n.inputs.map((_, k) => x(k)), { axis: a.axis as number });
      case 'gather': return emit('Gather', [x(0), x(1)], { axis: a.axis as number });
      case 'sum': case 'prod': case 'max': case 'min': {
        const op = { sum: 'ReduceSum', prod: 'ReduceProd', max: 'ReduceMax', min: 'ReduceMin' }[n.op];
        const rank = inNode(0).shape.length;
        const axes = (a.axes as number[] | undefined) ?? [...Array(rank).keys()];
        if (!axes.length) return emit('Identity', [x(0)]);
        return emit(op, [x(0), int64s(axes, 'axes')], { keepdims: a.keepDims ? 1 : 0 });
      }
      case 'argMax': case 'argMin': {
        const r = emit(n.op === 'argMax' ? 'ArgMax' : 'ArgMin', [x(0)], { axis: (a.axis as number | undefined) ?? 0, keepdims: a.keepDims ? 1 : 0 });
        return emit('Cast', [r], { to: ONNX_DTYPE.INT32 });
      }
      case 'cumsum': return emit('CumSum', [x(0), int64s([a.axis as number], 'axis')], { exclusive: a.exclusive ? 1 : 0, reverse: a.reverse ? 1 : 0 });
      case 'matmul': {
        const t = (k: number, on: unknown) => {
          if (!on) return x(k);
          const r = inNode(k).shape.length;
          return emit('Transpose', [x(k)], { perm: [...Array(r - 2).keys(), r - 1, r - 2] });
        };
        return emit('MatMul', [t(0, a.transposeA), t(1, a.transposeB)]);
      }
      case 'conv2d': case 'conv2dTranspose': {
        const [pt, pb, pl, pr] = a.padding as number[];
        const attrs: Record<string, Attr> = {
          kernel_shape: (inNode(1).shape as number[]).slice(2), strides: a.stride as number[], dilations: a.dilation as number[],
          pads: [pt!, pl!, pb!, pr!], group: a.groups as number,
        };
        if (n.op === 'conv2dTranspose') attrs.output_padding = a.outputPadding as number[];
        return emit(n.op === 'conv2d' ? 'Conv' : 'ConvTranspose', [x(0), x(1)], attrs);
      }
      case 'maxPool2d': {
        const [pt, pb, pl, pr] = a.padding as number[];
        return emit('MaxPool', [x(0)], { kernel_shape: a.kernel as number[], strides: a.stride as number[], pads: [pt!, pl!, pb!, pr!] });
      }
      default:
        throw new UnsupportedError(`${where}: ${n.op} has no ONNX export (export an inference graph: gradients, assign and scatterAdd are training ops)`);
    }
  }

  const outputsOut: ValueInfoProto[] = [];
  for (const [name, t] of Object.entries(options.outputs)) {
    const src = names.get(t.id)!;
    emit('Identity', [src], {}, name);
    outputsOut.push(valueInfo(name, t.node));
  }
  return encodeModel({
    ir_version: 8, producer_name: 'kiln', producer_version: '0.1.0',
    opset_import: [{ domain: '', version: EXPORT_OPSET }],
    graph: { name: options.name ?? 'kiln', node: nodes, initializer: inits, input: inputsOut, output: outputsOut },
  });
}

function valueInfo(name: string, n: Node): ValueInfoProto {
  return {
    name,
    type: { tensor_type: { elem_type: ONNX_OF[n.dtype], shape: { dim: n.shape.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } },
  };
}

function isTrainingFlag(g: Graph, id: number): boolean {
  const n = g.nodes[id]!;
  return n.op === 'input' && n.name === TRAINING_INPUT;
}

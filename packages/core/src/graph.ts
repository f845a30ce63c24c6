/**
 * The graph IR and its builder. A node has an op, input node ids, validated attributes
 * and a static output type, inferred when the node is created; a bad shape or dtype fails
 * here, at build time, naming the op, the node and the shapes involved.
 */
import { z } from 'zod';
import { describeValue as describe, DTypeError, GraphError, KilnError, OptionsError, ShapeError } from './errors';
import { gradients } from './autodiff';
import { type GraphJSON, graphFromJSON, graphToJSON } from './serialize';
import type { TypedArray } from './host';
import { INIT_NAMES, type InitName, type ParamInit } from './init';
import { parseOptions, TRAINING_INPUT } from './options';
import { arg, checkArgs, optional, options as optionsArg, tensor as tensorArg, tensorField } from './ops/args';
import { spec as specOf } from './ops/primitives';
import type { PrimitiveName } from './ops/primitives';
import type { Attrs } from './spec';
import { type DType, DTYPES, type Dim, normAxis, type Shape, shapeIsConcrete, shapesEqual, shapeToString, type TensorType } from './shape';
import { Tensor, type TensorLike } from './tensor';

/** One node of the graph IR: an op applied to earlier nodes, with its inferred output type. */
export interface Node {
  /** Index in `graph.nodes` (inputs always have smaller ids). */
  readonly id: number;
  /** The primitive (see PRIMITIVES). */
  readonly op: PrimitiveName;
  /** Ids of the input nodes. */
  readonly inputs: readonly number[];
  /** Attributes as validated by the primitive's schema (defaults filled in). */
  readonly attrs: Attrs;
  /** Output shape, inferred at build time. */
  readonly shape: Shape;
  /** Output dtype, inferred at build time. */
  readonly dtype: DType;
  /** An input's or param's name, else `<op>_<id>`. */
  readonly name: string;
}

/** A param's bookkeeping: its node, its initialiser, whether minimize() trains it. */
export interface ParamEntry {
  /** The param's node id. */
  readonly id: number;
  /** How its value is made at compile time (a named initialiser, a constant, or the values). */
  readonly init: ParamInit;
  /** Optimizer slots and running statistics are params that minimize() leaves alone. */
  readonly trainable: boolean;
}

/** Options of `new Graph(...)`. */
export interface GraphOptions {
  /** Seeds parameter initialisers and on-device random ops. */
  seed?: number;
}

const graphOptions = z.object({ seed: z.number().int().optional() }).strict();
const anyNumber = z.custom<number>((v) => typeof v === 'number', 'expected a number');
const initName = z.enum(INIT_NAMES as [InitName, ...InitName[]]);
/** Named initialisers and a constant fill (value arrays are checked against the dtype instead). */
const initSchema = z.union([
  initName,
  z.object({ name: initName, scale: anyNumber.optional(), mean: anyNumber.optional(), std: anyNumber.optional(), low: anyNumber.optional(), high: anyNumber.optional() }).strict(),
  z.object({ constant: anyNumber }).strict(),
]);
const shapeSchema = z.array(z.union([z.number().int().nonnegative(), z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/)]));
/** Input names starting with this are Kiln's own (the train flag): users cannot define or feed them. */
export const RESERVED_PREFIX = '__';
/**
 * Most elements one tensor may have: kernels index elements with 32-bit unsigned integers.
 * A larger shape is a ShapeError at build time (or a FeedError when a fed dim makes it so).
 */
export const MAX_ELEMENTS = 2 ** 32 - 1;
/** Most elements of a constant Kiln builds on the host from a size (range, oneHot's depth). */
export const MAX_HOST_CONSTANT = 2 ** 24;
const I32_MIN = -(2 ** 31);
const I32_MAX = 2 ** 31 - 1;

/**
 * A range that the values of a fed integer input must lie in, because they reach the
 * indices of a gather or scatterAdd, or the class labels of oneHot / softmaxCrossEntropy,
 * unchanged (through reshapes, transposes, broadcasts or concats). Every run checks its
 * feeds against these on the host before any device work, and refuses an out-of-range
 * value with a FeedError naming the input, the position, the value and the range.
 */
export interface IndexRange {
  /** The input's name. */
  readonly input: string;
  /** Values must be in [0, high); a symbol is bound from the run's feeds. */
  readonly high: Dim;
  /** What reads the values, for the message: `gather indices (axis 0 of size 10)`. */
  readonly use: string;
  /** The consuming node: the check applies to runs that compute it. */
  readonly node: number;
}


/**
 * A computation graph under construction: inputs, params and the ops applied to them. Every op
 * checks its arguments and infers its output's shape and dtype when called, so a mistake is
 * a typed error at the line that made it. Compile it with `compile` (package kiln) or
 * `compileWith(graph, backend)`, or evaluate it on the float64 reference with `evaluate`.
 * @example
 * ```ts
 * const g = new Graph({ seed: 1 });
 * const x = g.input('x', ['batch', 3]);
 * const w = g.param('w', [3, 2], { init: 'glorotUniform' });
 * const loss = x.matmul(w).square().mean();
 * g.minimize(loss, optim.sgd({ lr: 0.1 })); // gradients and update nodes
 * ```
 */
export class Graph {
  /** Every node, in creation order (a node's inputs come before it). */
  readonly nodes: Node[] = [];
  /** Seeds parameter initialisers and random ops (0 unless given). */
  readonly seed: number;
  /** Input name -> node id. */
  readonly inputs = new Map<string, number>();
  /** Param name -> its entry. */
  readonly params = new Map<string, ParamEntry>();
  /** `assign` nodes that run when `run(..., { train: true })`: optimizer and BN updates. */
  readonly updates: number[] = [];
  /**
   * Host functions that every Executable of this graph runs before each training step, ahead
   * of its own `Executable.trainHooks` (e.g. a learning-rate schedule written as a JS function,
   * added by an optimizer). Functions are not serialised: toJSON() leaves them out.
   */
  readonly trainHooks: TrainHook[] = [];
  /** Ranges that fed indices and labels must respect (see IndexRange); checked before each run. */
  readonly indexRanges: IndexRange[] = [];
  /** Symbolic dims some input defines: the only symbols other nodes may use. */
  private readonly symbols = new Set<string>();
  /** Per-graph counter that gives each random op its own stream. */
  private randomOps = 0;

  /**
   * @param options - `seed` (an integer) for initialisers and random ops.
   * @throws OptionsError for an unknown option or a seed that is not an integer.
   */
  constructor(options: GraphOptions = {}) {
    this.seed = parseOptions(graphOptions, options, 'new Graph').seed ?? 0;
  }

  /**
   * The Tensor of node `id`.
   * @throws GraphError if there is no such node.
   * @example g.tensor(0).shape
   */
  tensor(id: number): Tensor {
    if (!this.nodes[id]) throw new GraphError(`no node #${id} in this graph`);
    return new Tensor(this, id);
  }

  /**
   * A value fed at run time, by name. Dims are sizes or symbols ('batch') bound by the feeds;
   * dtype 'f32' (default), 'i32' or 'bool'.
   * @throws GraphError for an empty, reserved ('__...') or already used name; ShapeError for a
   * malformed shape; DTypeError for an unknown dtype.
   * @example const x = g.input('x', ['batch', 784]); const y = g.input('y', ['batch'], 'i32');
   */
  input(name: string, shape: Shape, dtype: DType = 'f32'): Tensor {
    if (typeof name === 'string' && name.startsWith(RESERVED_PREFIX)) {
      throw new GraphError(`input '${name}': names starting with '${RESERVED_PREFIX}' are reserved for Kiln (the train flag is g.isTraining())`);
    }
    return this.defineInput(name, shape, dtype);
  }

  private defineInput(name: string, shape: Shape, dtype: DType): Tensor {
    if (typeof name !== 'string' || !name) throw new GraphError(`input: name must be a non-empty string, got ${describe(name)}`);
    if (this.inputs.has(name)) throw new GraphError(`input '${name}' is already defined`);
    if (this.params.has(name)) throw new GraphError(`input '${name}' clashes with a param of that name`);
    checkShape(shape, `input '${name}'`);
    checkDType(dtype, `input '${name}'`);
    const t = this.addNode('input', [], { name, shape: [...shape], dtype }, name);
    this.inputs.set(name, t.id);
    for (const d of shape) if (typeof d === 'string') this.symbols.add(d);
    return t;
  }

  /**
   * A parameter: a tensor of concrete shape that lives on the device across runs, trained by
   * minimize() unless `trainable: false`. `init` is a named initialiser ('zeros' by default,
   * 'glorotUniform', 'heNormal', ... or `{ name, scale }`), `{ constant }` or the values.
   * @throws GraphError if the name is taken; ShapeError for a symbolic shape or values of the
   * wrong length; DTypeError for values that do not fit the dtype; OptionsError for an unknown
   * initialiser or options that are not an object.
   * @example const w = g.param('w', [784, 10], { init: 'glorotUniform' });
   */
  param(name: string, shape: readonly number[], options: { init?: ParamInit; dtype?: DType; trainable?: boolean } = {}): Tensor {
    options ??= {}; // null means the defaults, as for every options argument
    if (typeof options !== 'object' || Array.isArray(options)) throw new OptionsError(`param '${name}': options must be an object, got ${describe(options)}`);
    if (this.params.has(name) || this.inputs.has(name)) throw new GraphError(`param '${name}' is already defined`);
    checkShape(shape, `param '${name}'`);
    if (!shapeIsConcrete(shape)) throw new ShapeError(`param '${name}': shape ${shapeToString(shape)} must be concrete`);
    const dtype = options.dtype ?? 'f32';
    checkDType(dtype, `param '${name}'`);
    const init = options.init ?? 'zeros';
    const n = shape.reduce((a, b) => a * b, 1);
    if ((ArrayBuffer.isView(init) || Array.isArray(init)) && (init as ArrayLike<number>).length !== n) {
      throw new ShapeError(`param '${name}': initial values have ${(init as ArrayLike<number>).length} elements, shape ${shapeToString(shape)} needs ${n}`);
    }
    if (ArrayBuffer.isView(init) || Array.isArray(init)) {
      const values = Array.from(init as ArrayLike<unknown>);
      const bad = values.findIndex((v) => typeof v !== 'number');
      if (bad >= 0) throw new DTypeError(`param '${name}': initial value at position ${bad} is ${typeof values[bad]}, not a number`);
      checkValues(values as number[], dtype, `param '${name}': initial value`);
    } else {
      // Named initialisers run at compile time: refuse an unknown one (or a typo in its options) now.
      const r = initSchema.safeParse(init);
      if (!r.success) throw new OptionsError(`param '${name}': invalid initialiser ${describe(typeof init === 'object' && init !== null ? Object.values(init) : init)} — ${r.error.issues.map((i) => `${i.path.join('.') || 'init'}: ${i.message}`).join('; ').slice(0, 300)} (known: ${INIT_NAMES.join(', ')})`);
    }
    const t = this.addNode('param', [], { name, shape: [...shape], dtype }, name);
    this.params.set(name, { id: t.id, init, trainable: options.trainable ?? true });
    return t;
  }

  /**
   * A constant from a number, boolean, nested array or typed array; the shape is inferred from
   * the nesting unless given. dtype: given, else i32 for an Int32Array, bool for a boolean, f32.
   * @throws ShapeError for a ragged array or values that do not fill the shape; DTypeError for
   * elements that are not numbers or do not fit the dtype.
   * @example g.constant([[1, 2], [3, 4]]) // f32[2, 2]
   */
  constant(values: number | boolean | ArrayLike<number> | NestedArray, shape?: readonly number[], dtype?: DType): Tensor {
    const { flat, inferred } = flatten(values);
    const s = shape ?? inferred;
    checkShape(s, 'constant');
    const n = s.reduce((a, b) => a * (b as number), 1);
    if (flat.length !== n) throw new ShapeError(`constant: ${flat.length} values do not fill shape ${shapeToString(s)} (${n} elements)`);
    const dt = dtype ?? (values instanceof Int32Array ? 'i32' : typeof values === 'boolean' ? 'bool' : 'f32');
    return this.addNode('constant', [], { value: flat, shape: [...s], dtype: dt });
  }

  /**
   * A tensor of one value (computed where used, never stored).
   * @throws ShapeError for a malformed shape; DTypeError if the value does not fit the dtype.
   * @example g.fill([2, 3], -Infinity)
   */
  fill(shape: Shape, value: number, dtype: DType = 'f32'): Tensor {
    checkShape(shape, 'fill');
    return this.addNode('fill', [], { shape: [...shape], value, dtype });
  }
  /** `fill(shape, 0, dtype)`. @example g.zeros([4]) */
  zeros(shape: Shape, dtype: DType = 'f32'): Tensor { return this.fill(shape, 0, dtype); }
  /** `fill(shape, 1, dtype)`. @example g.ones(['batch', 1]) */
  ones(shape: Shape, dtype: DType = 'f32'): Tensor { return this.fill(shape, 1, dtype); }

  /**
   * [start, stop) by step as a rank-1 constant (i32 by default); `range(n)` is 0 .. n - 1.
   * @throws OptionsError for step 0 or non-finite bounds; ShapeError above 2^24 elements.
   * @example g.range(10) // i32[10]
   */
  range(start: number, stop?: number, step = 1, dtype: DType = 'i32'): Tensor {
    if (stop === undefined) [start, stop] = [0, start];
    if (step === 0) throw new OptionsError('range: step must not be 0');
    if (![start, stop, step].every(Number.isFinite)) throw new OptionsError(`range: start, stop and step must be finite numbers, got ${start}, ${stop}, ${step}`);
    const n = Math.max(0, Math.ceil((stop - start) / step));
    // A range is built on the host (oneHot builds one of its depth): refuse a size that would
    // take gigabytes of host memory before allocating it.
    if (n > MAX_HOST_CONSTANT) throw new ShapeError(`range: ${n} elements, more than the ${MAX_HOST_CONSTANT} a constant built on the host may hold`);
    return this.constant(Array.from({ length: n }, (_, i) => start + i * step), [n], dtype);
  }

  /**
   * f32 uniform numbers in [low, high) (default [0, 1)), drawn on the device, fresh each run
   * (counter-based: the same seed and run count give the same numbers on every backend).
   * @throws OptionsError for an unknown option or a non-integer seed; ShapeError for a malformed shape.
   * @example g.randomUniform(['batch', 10], { low: -1, high: 1 })
   */
  randomUniform(shape: Shape, options: { low?: number; high?: number; seed?: number } = {}): Tensor {
    const o = parseOptions(z.object({ low: z.number().default(0), high: z.number().default(1), seed: z.number().int().optional() }).strict(), options, 'randomUniform');
    checkShape(shape, 'randomUniform');
    return this.addNode('random', [], { shape: [...shape], dist: 'uniform', a: o.low, b: o.high, seed: this.nextSeed(o.seed) });
  }

  /**
   * f32 normal numbers (Box-Muller; default mean 0, std 1), drawn on the device, fresh each run.
   * @throws OptionsError for an unknown option or a negative std; ShapeError for a malformed shape.
   * @example g.randomNormal([4, 4], { std: 0.1 })
   */
  randomNormal(shape: Shape, options: { mean?: number; std?: number; seed?: number } = {}): Tensor {
    const o = parseOptions(z.object({ mean: z.number().default(0), std: z.number().nonnegative().default(1), seed: z.number().int().optional() }).strict(), options, 'randomNormal');
    checkShape(shape, 'randomNormal');
    return this.addNode('random', [], { shape: [...shape], dist: 'normal', a: o.mean, b: o.std, seed: this.nextSeed(o.seed) });
  }

  /**
   * A scalar bool that is true during `run(..., { train: true })` (dropout, batchNorm).
   * @example g.isTraining().where(x.dropout({ rate: 0.1, training: true }), x)
   */
  isTraining(): Tensor {
    const id = this.inputs.get(TRAINING_INPUT);
    return id !== undefined ? this.tensor(id) : this.defineInput(TRAINING_INPUT, [], 'bool');
  }

  /**
   * Record that the values of `indices` must lie in [0, high) wherever they come from a fed
   * input unchanged (see IndexRange); `consumer` is the node that reads them. Gather and
   * scatterAdd record theirs; composites that compare labels with a range (oneHot) call this.
   */
  requireIndexRange(indices: Tensor, high: Dim, use: string, consumer: Tensor): void {
    if (typeof high === 'string' && !this.symbols.has(high)) throw new ShapeError(`${use}: symbolic dim '${high}' is not a dim of any input`);
    const stack = [indices.id];
    const seen = new Set<number>();
    while (stack.length) {
      const id = stack.pop()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const n = this.nodes[id]!;
      if (n.op === 'input' && n.attrs.name !== TRAINING_INPUT) {
        const r: IndexRange = { input: n.attrs.name as string, high, use, node: consumer.id };
        if (!this.indexRanges.some((q) => q.input === r.input && q.high === r.high && q.use === r.use && q.node === r.node)) this.indexRanges.push(r);
      }
      // Ops that pass every input value through unchanged (a slice or gather may drop some:
      // those values never reach the indices, so they are not constrained).
      if (n.op === 'reshape' || n.op === 'transpose' || n.op === 'broadcastTo' || n.op === 'concat') stack.push(...n.inputs);
    }
  }

  /**
   * Write `value` (broadcast to the target's shape and dtype) into `target`, a param, at the end
   * of each training run (`run(..., { train: true })`). Optimizers are built from this.
   * @throws GraphError if target is not a param of this graph; ShapeError/DTypeError if value does not fit.
   * @example g.assign(step, step.add(1))
   */
  assign(target: Tensor, value: TensorLike): Tensor {
    if (!(target instanceof Tensor) || target.graph !== this || target.op !== 'param') throw new GraphError(`assign: target ${String(target)} is not a param of this graph`);
    let v = typeof value === 'number' || typeof value === 'boolean' ? this.fill(target.shape, Number(value), target.dtype) : value;
    // Backends copy whole buffers: make the value exactly the target's shape.
    if (v instanceof Tensor && v.graph === this && !shapesEqual(v.shape, target.shape)) v = v.broadcastTo(target.shape);
    return this.addNode('assign', [target, v], {});
  }

  /**
   * Reverse-mode gradients of `y` (a scalar, or any shape with a `seed` of that shape)
   * with respect to `xs`, added to this graph as ordinary nodes; each has its x's shape.
   * @throws GradientError for a non-scalar y without a seed or a non-differentiable path;
   * GraphError if y (or seed) is not a Tensor; OptionsError if xs is not an array of Tensors.
   * @example const [dw] = g.grad(loss, [w]);
   */
  grad(y: Tensor, xs: readonly Tensor[], seed?: Tensor): Tensor[] {
    checkArgs('grad', GRAD_ARGS, [y, xs, seed]);
    return gradients(this, y, xs, seed);
  }

  /**
   * A JSON document of the whole graph (params' initialisers included); see Graph.fromJSON.
   * Train hooks (functions) are left out.
   * @example const copy = Graph.fromJSON(JSON.stringify(g.toJSON()));
   */
  toJSON(): GraphJSON {
    return graphToJSON(this);
  }

  /**
   * Rebuild a graph from toJSON()'s output (object or string).
   * @throws SerializationError for malformed JSON or a bad document, naming the first bad node.
   * @example const g2 = Graph.fromJSON(text);
   */
  static fromJSON(json: unknown): Graph {
    return graphFromJSON(json, (options) => new Graph(options));
  }

  /** Trainable params, in creation order. @example g.trainableParams().map((p) => p.name) */
  trainableParams(): Tensor[] {
    return [...this.params.values()].filter((p) => p.trainable).map((p) => this.tensor(p.id));
  }

  /**
   * Add gradients of `loss` (a scalar) and the optimizer's update nodes, which run on
   * `run(..., { train: true })`. Returns the gradients, one per parameter (all trainable
   * params unless `params` is given).
   * @throws GraphError if loss is not of this graph, a listed tensor is not a param, or there
   * are no trainable params; GradientError if loss is not a scalar; OptionsError for a missing
   * optimizer or unknown options.
   * @example g.minimize(loss, optim.adam({ lr: 1e-3 }));
   */
  minimize(loss: Tensor, optimizer: Optimizer, options: { params?: readonly Tensor[] } = {}): Tensor[] {
    checkArgs('minimize', MINIMIZE_ARGS, [loss, optimizer, options]);
    if (!(loss instanceof Tensor) || loss.graph !== this) throw new GraphError('minimize: loss must be a Tensor of this graph');
    const params = options?.params ?? this.trainableParams();
    for (const p of params) if (p.op !== 'param') throw new GraphError(`minimize: ${p} is not a param`);
    if (!params.length) throw new GraphError('minimize: the graph has no trainable params');
    const grads = this.grad(loss, params);
    optimizer.apply(this, params.map((param, i) => ({ param, grad: grads[i]! })));
    return grads;
  }

  private nextSeed(explicit?: number): number {
    const k = this.randomOps++;
    return ((explicit ?? this.seed) * 0x9e3779b1 + k * 0x85ebca6b) >>> 0;
  }

  /**
   * Create a node of a primitive (what every op does underneath): validate attrs (zod), infer
   * the output type, or fail naming everything. Prefer the ops; this skips their argument checks.
   * @throws GraphError for inputs that are not tensors of this graph or the wrong count;
   * OptionsError for bad attributes; ShapeError/DTypeError from the primitive's shape rule.
   * @example g.addNode('exp', [x], {})
   */
  addNode(op: PrimitiveName, inputs: readonly Tensor[], attrs: Attrs, name?: string): Tensor {
    const spec = specOf(op);
    if (!spec) throw new GraphError(`unknown op '${op}'`);
    const id = this.nodes.length;
    const label = `${op} (node #${id})`;
    for (const t of inputs) {
      if (!(t instanceof Tensor)) throw new GraphError(`${label}: input is not a Tensor (${String(t)})`);
      if (t.graph !== this) throw new GraphError(`${label}: input ${t.name} belongs to another graph`);
    }
    if (spec.arity !== 'variadic' && inputs.length !== spec.arity) {
      throw new GraphError(`${label}: expects ${spec.arity} inputs, got ${inputs.length}`);
    }
    if (op === 'assign' && inputs[0]!.op !== 'param') throw new GraphError(`${label}: target ${inputs[0]} is not a param (only params hold state across runs)`);
    const parsed = spec.attrs.safeParse(attrs);
    if (!parsed.success) {
      const issues = parsed.error.issues.map((i) => `${i.path.join('.') || 'attrs'}: ${i.message}`).join('; ');
      throw new OptionsError(`${label}: invalid attributes — ${issues}`);
    }
    const types: TensorType[] = inputs.map((t) => ({ shape: t.shape, dtype: t.dtype }));
    let out: TensorType;
    try {
      out = spec.infer(types, parsed.data as Attrs);
    } catch (e) {
      if (e instanceof KilnError) {
        const ins = inputs.map((t) => `${t.name}: ${t.dtype}${shapeToString(t.shape)}`).join(', ');
        const Ctor = e.constructor as new (m: string) => KilnError;
        throw new Ctor(`${label}: ${e.message}${ins ? ` (inputs ${ins})` : ''}`);
      }
      throw e;
    }
    this.checkNode(label, op, inputs, parsed.data as Attrs, out);
    this.nodes.push({ id, op, inputs: inputs.map((t) => t.id), attrs: parsed.data as Attrs, shape: out.shape, dtype: out.dtype, name: name ?? `${op}_${id}` });
    const t = new Tensor(this, id);
    // Every assign runs on train: true (one registered elsewhere could be silently dropped).
    if (op === 'assign') this.updates.push(id);
    if (op === 'gather' || op === 'scatterAdd') {
      const [x, idx] = inputs as [Tensor, Tensor];
      const axis = op === 'gather' ? normAxis((parsed.data as { axis: number }).axis, x.rank, op) : (parsed.data as { axis: number }).axis;
      const high = op === 'gather' ? x.shape[axis]! : (parsed.data as { size: number }).size;
      this.requireIndexRange(idx, high, `${op} indices (axis ${axis} of size ${high})`, t);
    }
    return t;
  }

  /**
   * Graph-level rules no single op's spec can see (besides assign writing a param, checked
   * first): symbols (a symbolic dim must come from some input), values that fit their dtype, sizes that
   * kernels can index.
   */
  private checkNode(label: string, op: PrimitiveName, inputs: readonly Tensor[], attrs: Attrs, out: TensorType): void {
    if (op !== 'input') {
      for (const key of ['shape', 'dims']) {
        const dims = attrs[key];
        if (!Array.isArray(dims)) continue;
        for (const d of dims) {
          if (typeof d === 'string' && !this.symbols.has(d)) {
            throw new ShapeError(`${label}: symbolic dim '${d}' is not a dim of any input (symbols are bound by feeds; inputs with symbols: ${[...this.symbols].join(', ') || 'none'})`);
          }
        }
      }
    }
    if (op === 'constant') checkValues(attrs.value as number[], out.dtype, `${label}: value`);
    if (op === 'fill') checkValues([attrs.value as number], out.dtype, `${label}: value`);
    const fixed = out.shape.reduce<number>((a, d) => (typeof d === 'number' ? a * d : a), 1);
    if (fixed > MAX_ELEMENTS) throw new ShapeError(`${label}: output ${shapeToString(out.shape)} has ${fixed} elements, more than the ${MAX_ELEMENTS} a tensor may hold`);
  }

  /**
   * Wrap a number as a scalar constant of `like`'s dtype (f32 without one), a boolean as a bool
   * scalar; a Tensor is returned as is.
   * @throws GraphError for anything else.
   * @example g.lift(0.5, x)
   */
  lift(x: TensorLike, like?: Tensor): Tensor {
    if (x instanceof Tensor) return x;
    if (typeof x === 'boolean') return this.constant(x ? 1 : 0, [], 'bool');
    // Anything else would become NaN (undefined) or a parsed number ('3') without a word.
    if (typeof x !== 'number') throw new GraphError(`expected a Tensor, a number or a boolean operand, got ${describe(x)}`);
    const dtype = like && like.dtype !== 'bool' ? like.dtype : 'f32';
    return this.constant(x, [], dtype);
  }
}

const GRAD_ARGS = [
  tensorArg('y'), arg('xs', 'an array of Tensors', { value: z.array(tensorField) }), optional(tensorArg('seed')),
];
const MINIMIZE_ARGS = [
  tensorArg('loss'),
  arg('optimizer', 'an optimizer (optim.sgd(...), optim.adam(...), ...)', { value: z.custom<unknown>((v): boolean => typeof (v as Optimizer | null)?.apply === 'function') }),
  optional(optionsArg(z.object({ params: z.array(tensorField).optional() }).strict())),
];

/**
 * A hook run on the host before each training step, given the number of training steps run
 * so far; it returns param values to write (by param name) before the step runs, or nothing.
 */
export type TrainHook = (trainStep: number) => Record<string, number | TypedArray> | void;

/** An optimizer adds update nodes (`g.assign`) for each param from its gradient. */
export interface Optimizer {
  /** For messages and checkpoints: 'adam', 'sgd', ... */
  readonly name: string;
  /** Add the update nodes of each (param, gradient) pair to g. */
  apply(g: Graph, pairs: readonly { param: Tensor; grad: Tensor }[]): void;
}

/** A number, a boolean, or (nested) arrays of them: what Graph.constant takes. */
export type NestedArray = number | boolean | readonly NestedArray[];

function flatten(values: number | boolean | ArrayLike<number> | NestedArray): { flat: number[]; inferred: number[] } {
  if (typeof values === 'number' || typeof values === 'boolean') return { flat: [Number(values)], inferred: [] };
  let level: unknown[] = ArrayBuffer.isView(values) ? Array.from(values as ArrayLike<number>) : [values];
  const shape: number[] = ArrayBuffer.isView(values) ? [level.length] : [];
  // Level by level, not recursively: a nesting as deep as the input is never a JS stack depth.
  while (level.length && Array.isArray(level[0])) {
    const len = (level[0] as unknown[]).length;
    const next: unknown[] = [];
    for (const v of level) {
      if (!Array.isArray(v)) throw new ShapeError(`constant: ragged nested array at depth ${shape.length} (an array beside a ${typeof v})`);
      if (v.length !== len) throw new ShapeError(`constant: ragged nested array at depth ${shape.length} (${v.length} vs ${len})`);
      for (const e of v) next.push(e);
    }
    shape.push(len);
    level = next;
  }
  const flat = new Array<number>(level.length);
  for (let i = 0; i < level.length; i++) {
    const v = level[i];
    if (Array.isArray(v)) throw new ShapeError(`constant: ragged nested array at depth ${shape.length}`);
    if (typeof v !== 'number' && typeof v !== 'boolean') throw new DTypeError(`constant: element ${i} is ${describe(v)}, not a number or boolean`);
    flat[i] = Number(v);
  }
  return { flat, inferred: shape };
}

function checkShape(shape: Shape, what: string): void {
  const r = shapeSchema.safeParse(shape);
  if (!r.success) throw new ShapeError(`${what}: invalid shape ${describe(shape)} (dims are non-negative integers or symbol names)`);
}

/** Values of a constant, fill or param init must fit the dtype: i32 integers in range, bool 0 or 1. */
function checkValues(values: readonly number[], dtype: DType, what: string): void {
  if (dtype === 'f32') return; // any number, ±Infinity and NaN included, rounds to an f32
  for (let i = 0; i < values.length; i++) {
    const v = values[i]!;
    const ok = dtype === 'i32' ? Number.isInteger(v) && v >= I32_MIN && v <= I32_MAX : v === 0 || v === 1;
    if (!ok) {
      const range = dtype === 'i32' ? `integers in [${I32_MIN}, ${I32_MAX}]` : '0 or 1';
      throw new DTypeError(`${what} ${v} at position ${i} is not ${dtype === 'i32' ? 'an' : 'a'} ${dtype} (${range})`);
    }
  }
}

function checkDType(dtype: DType, what: string): void {
  if (!DTYPES.includes(dtype)) throw new DTypeError(`${what}: unknown dtype '${dtype}' (expected ${DTYPES.join(', ')})`);
}

export type { Dim };
export { parseOptions, TRAINING_INPUT };

/**
 * Recurrent layers: simpleRnn, lstm and gru, unrolled over a static number of time steps
 * into ordinary graph ops (matmuls and fused elementwise kernels), batch first.
 *
 * Weights are laid out as the ONNX RNN/LSTM/GRU operators lay them out, one set per layer
 * of the stack, so they map one to one on import and export:
 *
 *   <name>/layer_<k>/W  [directions, gates * hidden, inputSize]   input weights
 *   <name>/layer_<k>/R  [directions, gates * hidden, hidden]      recurrence weights
 *   <name>/layer_<k>/B  [directions, 2 * gates * hidden]          input biases, then recurrence biases
 *
 * where `gates` is 1 (RNN), 4 (LSTM, order i o f c) or 3 (GRU, order z r h), direction 0 runs
 * forward and direction 1 (bidirectional) backward. Layer k > 0 reads the previous layer's
 * output, `directions * hidden` features.
 */
import { concat, OptionsError, parseOptions, type ParamInit, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { dropout as dropoutOp } from './basic';
import { initSchema, isTensor, type Layer, nameSchema, ownedParams, staticDim } from './common';

type Kind = 'rnn' | 'lstm' | 'gru';
const GATES: Record<Kind, number> = { rnn: 1, lstm: 4, gru: 3 };

/** Options shared by the recurrent layers (`simpleRnn`, `lstm`, `gru`). */
export interface RecurrentOptions {
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** Also run each layer backward and concatenate both directions' outputs (default false). */
  bidirectional?: boolean;
  /**
   * What calling the layer returns: the top layer's output at every step, `[batch, time,
   * directions * hidden]` (default true), or only its last state, `[batch, directions * hidden]`
   * (the forward direction's state after the last valid step, the backward direction's after step 0).
   */
  returnSequences?: boolean;
  /** Dropout on the outputs of every layer but the last, while training (default 0, as PyTorch). */
  dropout?: number;
  /** Default `{ name: 'uniform', low: -1/sqrt(hidden), high: 1/sqrt(hidden) }`, as PyTorch, for W, R and B. */
  kernelInit?: ParamInit;
  recurrentInit?: ParamInit;
  biasInit?: ParamInit;
  /** Params live under `<name>/layer_<k>/` (default `simple_rnn_<n>`, `lstm_<n>`, `gru_<n>`). */
  name?: string;
}

/** Options of `simpleRnn`. */
export interface SimpleRnnOptions extends RecurrentOptions {
  /** `'tanh'` (default, as ONNX and PyTorch) or `'relu'`. */
  activation?: 'tanh' | 'relu';
}

/** Options of `gru`. */
export interface GruOptions extends RecurrentOptions {
  /**
   * Apply the reset gate after multiplying by the recurrence weights:
   * `h~ = tanh(x Wh' + r * (h Rh' + Rbh) + Wbh)` (PyTorch's and cuDNN's GRU), instead of ONNX's
   * default `h~ = tanh(x Wh' + (r * h) Rh' + Rbh + Wbh)` (default false, as ONNX).
   */
  linearBeforeReset?: boolean;
}

/** Run-time inputs of a call: initial states and per-example lengths. */
export interface RecurrentState {
  /** `[numLayers * directions, batch, hidden]` f32, layer-major (ONNX `initial_h` per layer, PyTorch `h0`); default zeros. */
  initialH?: Tensor;
  /** LSTM only: the initial cell state, shaped like `initialH`; default zeros. */
  initialC?: Tensor;
  /**
   * `[batch]` i32 valid lengths (ONNX `sequence_lens`): steps at or past an example's length
   * leave its state unchanged and output zeros, and the backward direction starts at its last
   * valid step. Lengths outside `[0, time]` behave as clamped to that range.
   */
  lengths?: Tensor;
}

/** What a recurrent layer returns: the outputs and the final state. */
export interface RecurrentResult {
  /** The top layer's outputs, `[batch, time, directions * hidden]`. */
  y: Tensor;
  /** Final hidden states, `[numLayers * directions, batch, hidden]`. */
  h: Tensor;
  /** LSTM only: final cell states, shaped like `h`. */
  c?: Tensor;
}

/** A recurrent layer object: call it like any layer, or `run` it for states and lengths. */
export interface RecurrentLayer extends Layer {
  (x: Tensor, state?: RecurrentState): Tensor;
  /** The full result: every output step and the final states. */
  run(x: Tensor, state?: RecurrentState): RecurrentResult;
}

const baseSchema = {
  numLayers: z.number().int().positive().default(1),
  bidirectional: z.boolean().default(false),
  returnSequences: z.boolean().default(true),
  dropout: z.number().min(0).lt(1).default(0),
  kernelInit: initSchema.optional(),
  recurrentInit: initSchema.optional(),
  biasInit: initSchema.optional(),
  name: nameSchema,
};
const rnnSchema = z.object({ ...baseSchema, activation: z.enum(['tanh', 'relu']).default('tanh') }).strict();
const lstmSchema = z.object(baseSchema).strict();
const gruSchema = z.object({ ...baseSchema, linearBeforeReset: z.boolean().default(false) }).strict();

interface Config {
  kind: Kind;
  hidden: number;
  numLayers: number;
  directions: number;
  returnSequences: boolean;
  dropout: number;
  activation: 'tanh' | 'relu';
  linearBeforeReset: boolean;
  kernelInit?: ParamInit;
  recurrentInit?: ParamInit;
  biasInit?: ParamInit;
  name?: string;
}

interface LayerParams { W: Tensor; R: Tensor; B: Tensor }

const KIND_NAME: Record<Kind, string> = { rnn: 'simpleRnn', lstm: 'lstm', gru: 'gru' };
const PARAM_KIND: Record<Kind, string> = { rnn: 'simple_rnn', lstm: 'lstm', gru: 'gru' };

function recurrentLayer(cfg: Config): RecurrentLayer {
  const what = KIND_NAME[cfg.kind];
  const { hidden, directions, kind } = cfg;
  const gh = GATES[kind] * hidden;
  const own = ownedParams<LayerParams[]>(PARAM_KIND[kind], cfg.name);
  const bound = 1 / Math.sqrt(hidden);
  const uniform: ParamInit = { name: 'uniform', low: -bound, high: bound };

  const run = (x: Tensor, state: RecurrentState = {}): RecurrentResult => {
    if (!isTensor(x)) throw new OptionsError(`${what}: expected a Tensor, got ${typeof x}`);
    if (x.rank !== 3 || x.dtype !== 'f32') throw new ShapeError(`${what}: input ${x} must be f32 [batch, time, features]`);
    const parsed = parseOptions(z.object({ initialH: z.custom<Tensor>(isTensor).optional(), initialC: z.custom<Tensor>(isTensor).optional(), lengths: z.custom<Tensor>(isTensor).optional() }).strict(), state, `${what} state`);
    const T = staticDim(x, 1, what);
    const inFeatures = staticDim(x, 2, what);
    const g = x.graph;
    const batch = x.shape[0]!;
    const stateShape = [cfg.numLayers * directions, batch, hidden];
    const checkState = (t: Tensor | undefined, k: string) => {
      if (t === undefined) return;
      if (t.graph !== g) throw new OptionsError(`${what}: ${k} ${t} belongs to another graph`);
      if (t.dtype !== 'f32' || t.rank !== 3 || t.shape[0] !== stateShape[0] || t.shape[2] !== hidden || (typeof batch === 'number' && typeof t.shape[1] === 'number' && t.shape[1] !== batch)) {
        throw new ShapeError(`${what}: ${k} ${t} must be f32 [numLayers * directions, batch, hidden] = [${stateShape.join(', ')}]`);
      }
    };
    checkState(parsed.initialH, 'initialH');
    checkState(parsed.initialC, 'initialC');
    if (parsed.initialC && kind !== 'lstm') throw new OptionsError(`${what}: initialC is an LSTM state`);
    const lengths = parsed.lengths;
    if (lengths && (lengths.graph !== g || lengths.dtype !== 'i32' || lengths.rank !== 1 || (typeof batch === 'number' && typeof lengths.shape[0] === 'number' && lengths.shape[0] !== batch))) {
      throw new ShapeError(`${what}: lengths ${lengths} must be i32 [batch] of the input's graph`);
    }

    const params = own(g, `${inFeatures} input features`, (name) => Array.from({ length: cfg.numLayers }, (_, k) => {
      const inK = k === 0 ? inFeatures : directions * hidden;
      return {
        W: g.param(`${name}/layer_${k}/W`, [directions, gh, inK], { init: cfg.kernelInit ?? uniform }),
        R: g.param(`${name}/layer_${k}/R`, [directions, gh, hidden], { init: cfg.recurrentInit ?? uniform }),
        B: g.param(`${name}/layer_${k}/B`, [directions, 2 * gh], { init: cfg.biasInit ?? uniform }),
      };
    }));

    // mask[t]: [batch, 1] bool, true where step t is inside the example's length.
    const mask = lengths ? Array.from({ length: T }, (_, t) => lengths.greater(t).reshape([batch, 1])) : undefined;
    const zeros = () => g.fill([batch, hidden], 0);
    const initial = (t: Tensor | undefined, i: number) => (t ? t.slice({ begin: [i, 0, 0], size: [1, -1, -1] }).squeeze(0) : undefined);

    let input = x;
    const hs: Tensor[] = [], cs: Tensor[] = [];
    for (let k = 0; k < cfg.numLayers; k++) {
      const { W, R, B } = params[k]!;
      const outs: Tensor[] = [];
      for (let d = 0; d < directions; d++) {
        const inK = staticDim(input, 2, what);
        const Wd = W.slice({ begin: [d, 0, 0], size: [1, gh, inK] }).reshape([gh, inK]);
        // [hidden, gates * hidden], transposed once: a step's h @ Rt needs no per-call transpose.
        const Rt = R.slice({ begin: [d, 0, 0], size: [1, gh, hidden] }).reshape([gh, hidden]).transpose([1, 0]);
        const wb = B.slice({ begin: [d, 0], size: [1, gh] }).reshape([gh]);
        const rb = B.slice({ begin: [d, gh], size: [1, gh] }).reshape([gh]);
        // The input projection of every step at once, time-major so a step is one contiguous slice.
        const xp = input.matmul(Wd, { transposeB: true }).add(wb).transpose([1, 0, 2]);
        const i = k * directions + d;
        let h = initial(parsed.initialH, i) ?? (mask ? zeros() : undefined);
        let c = kind === 'lstm' ? initial(parsed.initialC, i) ?? (mask ? zeros() : undefined) : undefined;
        const ys: Tensor[] = new Array(T);
        for (let s = 0; s < T; s++) {
          const t = d === 0 ? s : T - 1 - s;
          const xt = xp.slice({ begin: [t, 0, 0], size: [1, -1, -1] }).squeeze(0);
          const step = cell(cfg, xt, h, c, Rt, rb);
          let hNew = step.h, cNew = step.c;
          if (mask) {
            hNew = mask[t]!.where(hNew, h!);
            if (cNew) cNew = mask[t]!.where(cNew, c!);
            ys[t] = mask[t]!.where(step.h, 0);
          } else ys[t] = hNew;
          h = hNew;
          c = cNew;
        }
        outs.push(concat(ys.map((y) => y.expandDims(1)), 1));
        hs.push(h ?? zeros());
        if (kind === 'lstm') cs.push(c ?? zeros());
      }
      input = directions === 1 ? outs[0]! : concat(outs, 2);
      if (cfg.dropout > 0 && k < cfg.numLayers - 1) input = dropoutOp(input, cfg.dropout);
    }
    const stack = (ts: Tensor[]) => concat(ts.map((t) => t.expandDims(0)), 0);
    return { y: input, h: stack(hs), ...(kind === 'lstm' ? { c: stack(cs) } : {}) };
  };

  const layer = (x: Tensor, state?: RecurrentState): Tensor => {
    const r = run(x, state);
    if (cfg.returnSequences) return r.y;
    // The top layer's final states, directions side by side: [batch, directions * hidden].
    const top = r.h.slice({ begin: [(cfg.numLayers - 1) * directions, 0, 0], size: [directions, -1, -1] });
    return top.transpose([1, 0, 2]).reshape([x.shape[0]!, directions * hidden]);
  };
  return Object.assign(layer, { run });
}

/**
 * One step of one direction. `xt` is the input projection plus input bias `[batch, gates *
 * hidden]`; `h`, `c` the previous states (undefined: zero, the first step without initial
 * states, where the recurrence matmul is skipped); `Rt` the recurrence weights transposed,
 * `[hidden, gates * hidden]`.
 */
function cell(cfg: Config, xt: Tensor, h: Tensor | undefined, c: Tensor | undefined, Rt: Tensor, rb: Tensor): { h: Tensor; c?: Tensor } {
  const H = cfg.hidden;
  const gate = (t: Tensor, j: number, n = 1) => t.slice({ begin: [0, j * H], size: [-1, n * H] });
  if (cfg.kind === 'rnn') {
    const z = h ? xt.add(h.matmul(Rt)).add(rb) : xt.add(rb);
    return { h: cfg.activation === 'tanh' ? z.tanh() : z.relu() };
  }
  if (cfg.kind === 'lstm') {
    const z = h ? xt.add(h.matmul(Rt)).add(rb) : xt.add(rb);
    const i = gate(z, 0).sigmoid(), o = gate(z, 1).sigmoid(), f = gate(z, 2).sigmoid(), cand = gate(z, 3).tanh();
    const cNew = c ? f.mul(c).add(i.mul(cand)) : i.mul(cand);
    return { h: o.mul(cNew.tanh()), c: cNew };
  }
  // GRU: z r from x and h together; the candidate h~ per linearBeforeReset.
  const rbZR = rb.slice({ begin: [0], size: [2 * H] }), rbH = rb.slice({ begin: [2 * H], size: [H] });
  const RZR = Rt.slice({ begin: [0, 0], size: [H, 2 * H] }), RH = Rt.slice({ begin: [0, 2 * H], size: [H, H] });
  const zr = h ? gate(xt, 0, 2).add(h.matmul(RZR)).add(rbZR) : gate(xt, 0, 2).add(rbZR);
  const zg = gate(zr, 0).sigmoid(), r = gate(zr, 1).sigmoid();
  const xh = gate(xt, 2);
  let rec: Tensor;
  if (!h) rec = cfg.linearBeforeReset ? r.mul(rbH) : rbH;
  else if (cfg.linearBeforeReset) rec = r.mul(h.matmul(RH).add(rbH));
  else rec = r.mul(h).matmul(RH).add(rbH);
  const cand = xh.add(rec).tanh();
  // h' = (1 - z) h~ + z h  =  h~ + z (h - h~)
  return { h: h ? cand.add(zg.mul(h.sub(cand))) : cand.sub(zg.mul(cand)) };
}

function hiddenSize(what: string, v: unknown): number {
  if (!Number.isInteger(v) || (v as number) <= 0) throw new OptionsError(`${what}: hiddenSize must be a positive integer, got ${String(v)}`);
  return v as number;
}

function config(kind: Kind, hidden: number, o: z.infer<typeof lstmSchema> & { activation?: 'tanh' | 'relu'; linearBeforeReset?: boolean }): Config {
  return {
    kind, hidden, numLayers: o.numLayers, directions: o.bidirectional ? 2 : 1, returnSequences: o.returnSequences, dropout: o.dropout,
    activation: o.activation ?? 'tanh', linearBeforeReset: o.linearBeforeReset ?? false,
    ...(o.kernelInit ? { kernelInit: o.kernelInit } : {}), ...(o.recurrentInit ? { recurrentInit: o.recurrentInit } : {}),
    ...(o.biasInit ? { biasInit: o.biasInit } : {}), ...(o.name ? { name: o.name } : {}),
  };
}

/**
 * Elman RNN (ONNX `RNN`, PyTorch `nn.RNN(batch_first=True)`): `h_t = f(x_t W' + h_{t-1} R' + Wb + Rb)`.
 * Input `[batch, time, features]` f32 (time static); output `[batch, time, directions * hidden]`
 * (or `[batch, directions * hidden]` with `returnSequences: false`).
 * From PyTorch: `W[d] = weight_ih_l{k}{_reverse}`, `R[d] = weight_hh_l{k}{_reverse}`,
 * `B[d] = cat(bias_ih, bias_hh)`.
 *
 * @throws ShapeError for an input that is not rank-3 f32 with static time and features, or
 *   states of the wrong shape; OptionsError for bad options.
 * @example
 * const y = simpleRnn(x, 32);                          // [batch, T, 32]
 * const last = simpleRnn(16, { returnSequences: false })(x); // [batch, 16]
 */
export function simpleRnn(x: Tensor, hiddenSize: number, options?: SimpleRnnOptions): Tensor;
export function simpleRnn(hiddenSize: number, options?: SimpleRnnOptions): RecurrentLayer;
export function simpleRnn(a: Tensor | number, b?: number | SimpleRnnOptions, c?: SimpleRnnOptions): Tensor | RecurrentLayer {
  if (isTensor(a)) return simpleRnn(b as number, c)(a);
  return recurrentLayer(config('rnn', hiddenSize('simpleRnn', a), parseOptions(rnnSchema, b, 'simpleRnn')));
}

/**
 * Long short-term memory (ONNX `LSTM` without peepholes, PyTorch `nn.LSTM(batch_first=True)`):
 *
 *   i = sigmoid(x Wi' + h Ri' + Wbi + Rbi)     o = sigmoid(x Wo' + h Ro' + Wbo + Rbo)
 *   f = sigmoid(x Wf' + h Rf' + Wbf + Rbf)     c~ = tanh(x Wc' + h Rc' + Wbc + Rbc)
 *   c_t = f * c_{t-1} + i * c~                 h_t = o * tanh(c_t)
 *
 * Gates are stacked in ONNX's order i, o, f, c. NOTE: PyTorch stacks them i, f, g, o (g = c):
 * `W[d] = cat(Wi, Wo, Wf, Wg)` with `Wi, Wf, Wg, Wo = weight_ih_l{k}.chunk(4)`, the same for
 * R from `weight_hh_l{k}` and for each half of B from `bias_ih_l{k}` and `bias_hh_l{k}`.
 * Input `[batch, time, features]` f32; output `[batch, time, directions * hidden]`.
 *
 * @throws ShapeError / OptionsError as {@link simpleRnn}.
 * @example
 * const enc = lstm(128, { numLayers: 2, bidirectional: true });
 * const { y, h, c } = enc.run(x, { lengths });         // y [batch, T, 256], h and c [4, batch, 128]
 */
export function lstm(x: Tensor, hiddenSize: number, options?: RecurrentOptions): Tensor;
export function lstm(hiddenSize: number, options?: RecurrentOptions): RecurrentLayer;
export function lstm(a: Tensor | number, b?: number | RecurrentOptions, c?: RecurrentOptions): Tensor | RecurrentLayer {
  if (isTensor(a)) return lstm(b as number, c)(a);
  return recurrentLayer(config('lstm', hiddenSize('lstm', a), parseOptions(lstmSchema, b, 'lstm')));
}

/**
 * Gated recurrent unit (ONNX `GRU`, PyTorch `nn.GRU(batch_first=True)` with `linearBeforeReset: true`):
 *
 *   z = sigmoid(x Wz' + h Rz' + Wbz + Rbz)     r = sigmoid(x Wr' + h Rr' + Wbr + Rbr)
 *   h~ = tanh(x Wh' + (r * h) Rh' + Rbh + Wbh)          (linearBeforeReset false, ONNX's default)
 *   h~ = tanh(x Wh' + r * (h Rh' + Rbh) + Wbh)          (linearBeforeReset true, PyTorch)
 *   h_t = (1 - z) * h~ + z * h_{t-1}
 *
 * Gates are stacked z, r, h. NOTE: PyTorch stacks them r, z, n: `W[d] = cat(Wz, Wr, Wn)` with
 * `Wr, Wz, Wn = weight_ih_l{k}.chunk(3)`, the same for R and both halves of B.
 *
 * @throws ShapeError / OptionsError as {@link simpleRnn}.
 * @example
 * const y = gru(x, 64, { linearBeforeReset: true });   // PyTorch's GRU
 */
export function gru(x: Tensor, hiddenSize: number, options?: GruOptions): Tensor;
export function gru(hiddenSize: number, options?: GruOptions): RecurrentLayer;
export function gru(a: Tensor | number, b?: number | GruOptions, c?: GruOptions): Tensor | RecurrentLayer {
  if (isTensor(a)) return gru(b as number, c)(a);
  return recurrentLayer(config('gru', hiddenSize('gru', a), parseOptions(gruSchema, b, 'gru')));
}

/** Text generation with a trained language model: one run per new token. */
import { type Executable, GraphError, OptionsError, type Tensor } from '@kiln/core';
import { check, exeArg, opts } from '../args';

/** Options of `generate`. */
export interface GenerateOptions {
  /** The i32 input `[batch, length]` (or `[1, length]`) the model reads its context from. */
  input: Tensor;
  /** The next id given that context: i32 `[batch]` or `[1]`, e.g. `sampleLogits(logits at the last position)`. */
  next: Tensor;
  /** The ids to continue. Shorter than the context, it is left-padded with `pad`. */
  prompt: ArrayLike<number>;
  /** New ids to produce. */
  steps: number;
  /** Id used to left-pad a short context (default 0). */
  pad?: number;
}

/**
 * Continues `prompt` by `steps` ids: each step feeds the last `length` ids (a batch of one)
 * and appends the id `next` computes. Returns the new ids only.
 *
 * @throws GraphError for an input that is not i32 `[batch, length]` with static length, or a
 *   `next` that is not i32 with one id per example; OptionsError for bad steps or pad.
 * @example
 * const window = g.input('tokens', ['batch', 128], 'i32');
 * const logits = model(window);                                     // [batch, 128, vocab]
 * const next = sampleLogits(logits.slice({ begin: [0, 127, 0], size: [-1, 1, -1] }).squeeze(1), { temperature: 0.8, topK: 10 });
 * const ids = await generate(exe, { input: window, next, prompt: tok.encode('The '), steps: 200 });
 */
export async function generate(exe: Executable, options: GenerateOptions): Promise<Int32Array> {
  check('generate', [exeArg, opts()], [exe, options]);
  const { input, next, prompt, steps, pad = 0 } = options;
  if (input.op !== 'input' || input.dtype !== 'i32' || input.rank !== 2 || typeof input.shape[1] !== 'number') {
    throw new GraphError(`generate: input ${input} must be an i32 graph input [batch, length] with a static length`);
  }
  if (next.dtype !== 'i32' || next.rank !== 1) throw new GraphError(`generate: next ${next} must be i32 [batch] (one id per example)`);
  if (!Number.isInteger(steps) || steps < 0) throw new OptionsError(`generate: steps must be a non-negative integer, got ${String(steps)}`);
  if (!Number.isInteger(pad)) throw new OptionsError(`generate: pad must be an integer id, got ${String(pad)}`);
  const length = input.shape[1];
  const ids = Array.from(prompt);
  const out = new Int32Array(steps);
  const window = new Int32Array(length);
  for (let s = 0; s < steps; s++) {
    const start = ids.length - length;
    for (let i = 0; i < length; i++) window[i] = start + i >= 0 ? ids[start + i]! : pad;
    const r = await exe.run({ [input.node.attrs.name as string]: { data: window, shape: [1, length] } }, { next });
    const id = r.next.data[0]!;
    ids.push(id);
    out[s] = id;
  }
  return out;
}

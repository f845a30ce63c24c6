/** Choosing the next token from a language model's logits, on the device. */
import { OptionsError, parseOptions, ShapeError, type Tensor } from '@kiln/core';
import { z } from 'zod';
import { check, optional, opts, tensor } from './args';

/** Options of `sample`: temperature, top-k truncation, seed. */
export interface SampleOptions {
  /** 0: greedy (argmax); otherwise logits are divided by it before sampling (default 1). */
  temperature?: number;
  /** Sample only among the k largest logits (default: all). Ties at the k-th value are all kept. */
  topK?: number;
  /** Seed of the random stream (default: derived from the graph seed). Draws are fresh each run. */
  seed?: number;
}

/**
 * One id per row of `logits` `[..., vocab]` -> i32 `[...]`: the argmax with `temperature: 0`,
 * otherwise a draw from `softmax(logits / temperature)` restricted to the `topK` largest,
 * by the Gumbel-max trick (`argmax(z + g)`, `g = -log(-log(u))`, u uniform from the device's
 * counter-based stream), so sampling needs no readback of the probabilities.
 *
 * @throws ShapeError for a rank-0 or dynamic vocab axis; OptionsError for a negative
 *   temperature or a topK outside 1..vocab.
 * @example
 * const next = sampleLogits(lastLogits, { temperature: 0.8, topK: 20 }); // i32 [batch]
 */
export function sampleLogits(logits: Tensor, options: SampleOptions = {}): Tensor {
  check('sampleLogits', [tensor('logits'), opts()], [logits, options]);
  const o = parseOptions(z.object({ temperature: z.number().nonnegative().finite().default(1), topK: z.number().int().positive().optional(), seed: z.number().int().optional() }).strict(), options, 'sampleLogits');
  if (logits.rank < 1) throw new ShapeError(`sampleLogits: logits ${logits} need a vocab axis`);
  const vocab = logits.shape[logits.rank - 1];
  if (typeof vocab !== 'number') throw new ShapeError(`sampleLogits: the vocab axis of ${logits} must be static`);
  if (o.topK !== undefined && o.topK > vocab) throw new OptionsError(`sampleLogits: topK ${o.topK} is more than the vocab of ${vocab}`);
  const axis = logits.rank - 1;
  if (o.temperature === 0) return logits.argMax({ axis });
  let scaled = logits.stopGradient().mul(1 / o.temperature);
  if (o.topK !== undefined && o.topK < vocab) {
    // The k-th largest distinct value: k - 1 rounds of "the largest value below the last one".
    let kth = scaled.max({ axes: [axis], keepDims: true });
    for (let i = 1; i < o.topK; i++) kth = scaled.greaterEqual(kth).where(-Infinity, scaled).max({ axes: [axis], keepDims: true });
    scaled = scaled.less(kth).where(-Infinity, scaled);
  }
  const g = logits.graph;
  const u = g.randomUniform(logits.shape, o.seed === undefined ? {} : { seed: o.seed });
  return scaled.sub(u.log().neg().log()).argMax({ axis });
}

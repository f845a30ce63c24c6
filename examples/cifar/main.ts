/**
 * CIFAR-10 with Kiln: a VGG-style CNN (3x3 convolutions with batchNorm, three blocks, global
 * average pooling) trained with Adam on a cosine schedule, on seeded augmentations (random crop
 * with padding 4, horizontal flip) made afresh every epoch, from the CIFAR-10 binary files you
 * downloaded (README.md says where). Validates on the last 5,000 training images, prints one
 * line per epoch and ends with `test accuracy: NN.NN%`.
 *
 *   pnpm cifar -- --data ~/cifar-10-batches-bin                    # 10 epochs, backend auto
 *   pnpm cifar -- --data DIR --backend cpu --limit 5000 --epochs 2 --width 8
 *
 * Flags: --data DIR (required: the extracted cifar-10-batches-bin folder or the one holding it),
 * --epochs N (10), --batch-size N (128), --lr X (peak Adam lr, 2e-3), --width N (channels of the
 * first block, 32; then 2x and 4x), --backend auto|webgpu|cpu|reference, --seed N (1),
 * --limit N (train on the first N images), --test-limit N, --out PATH (save a checkpoint).
 */
import { pathToFileURL } from 'node:url';
import { buildModel, compile, data, evaluate, fit, nn, optim, saveCheckpoint, type EpochLogs } from 'kiln';
import { cli, runMain } from '../cli';

const { augment, createDataset, loadCifar10, normalize, randomCrop, randomHorizontalFlip, scale, subset } = data;
const { activationLayer, batchNorm, conv2d, dense, globalAvgPool2d, maxPool2d, sequential, softmaxCrossEntropy, accuracy } = nn;

const VALIDATION = 5000; // the last 5,000 training images (at most a tenth of a smaller file)
const PIXELS = 32 * 32;

function options(argv: readonly string[]) {
  const c = cli('cifar', {
    data: { type: 'string' },
    epochs: { type: 'string' },
    'batch-size': { type: 'string' },
    lr: { type: 'string' },
    width: { type: 'string' },
    backend: { type: 'string', default: 'auto' },
    seed: { type: 'string', default: '1' },
    limit: { type: 'string' },
    'test-limit': { type: 'string' },
    out: { type: 'string' },
  }, argv);
  const { values } = c;
  return {
    data: c.existing('data', values.data, 'folder') ?? c.fail('--data DIR is required: the folder of data_batch_1..5.bin and test_batch.bin (see examples/cifar/README.md)'),
    epochs: c.int('epochs', values.epochs, 1) ?? 10,
    batchSize: c.int('batch-size', values['batch-size'], 1) ?? 128,
    lr: c.positive('lr', values.lr, 2e-3),
    width: c.int('width', values.width, 1) ?? 32,
    backend: c.backend(values.backend),
    seed: c.int('seed', values.seed, 0)!,
    limit: c.int('limit', values.limit, 1),
    testLimit: c.int('test-limit', values['test-limit'], 1),
    out: values.out,
  };
}

/**
 * Two 3x3 conv + batchNorm + relu per block, then 2x2 max pooling: 32 -> 16 -> 8 -> 4 pixels.
 * Running statistics with momentum 0.9 (PyTorch's 0.1) rather than Keras' 0.99: they settle in
 * tens of steps, so a short run evaluates with statistics of the trained weights.
 */
function network(width: number) {
  const convBn = (filters: number) => [conv2d(filters, { kernel: 3, padding: 'same', useBias: false }), batchNorm({ momentum: 0.9 }), activationLayer('relu')];
  const block = (filters: number) => [...convBn(filters), ...convBn(filters), maxPool2d()];
  return sequential([...block(width), ...block(2 * width), ...block(4 * width), globalAvgPool2d(), dense(10)]);
}

/** Per-channel mean and standard deviation of CHW images, as per-feature arrays for `normalize`. */
function channelStats(images: Float32Array, count: number): { mean: Float32Array; std: Float32Array } {
  const mean = new Float32Array(3 * PIXELS);
  const std = new Float32Array(3 * PIXELS);
  for (let c = 0; c < 3; c++) {
    let sum = 0, sq = 0;
    for (let n = 0; n < count; n++) {
      for (let p = (n * 3 + c) * PIXELS, end = p + PIXELS; p < end; p++) { sum += images[p]!; sq += images[p]! * images[p]!; }
    }
    const m = sum / (count * PIXELS);
    mean.fill(m, c * PIXELS, (c + 1) * PIXELS);
    // float64 sums of values in [0, 1]: E[x^2] - E[x]^2 keeps its precision here
    std.fill(Math.sqrt(Math.max(sq / (count * PIXELS) - m * m, 0)) || 1, c * PIXELS, (c + 1) * PIXELS);
  }
  return { mean, std };
}

/**
 * Trains and evaluates as the flags in `argv` say; prints through `log`. Returns the epoch
 * logs and the test metrics.
 */
export async function main(argv: readonly string[] = process.argv.slice(2), log: (line: string) => void = console.log): Promise<{ epochs: EpochLogs[]; test: Record<string, number> }> {
  const o = options(argv);
  const cifar = await loadCifar10({ dir: o.data });
  const validationCount = Math.min(VALIDATION, Math.floor(cifar.train.count / 10));
  const trainCount = Math.min(o.limit ?? Infinity, cifar.train.count - validationCount);
  const range = (from: number, to: number) => Uint32Array.from({ length: to - from }, (_, i) => from + i);
  // Pixels to [0, 1], then per-channel standardisation with the training images' statistics.
  const pixels = scale(cifar.train.images, 1 / 255);
  const stats = channelStats(pixels, trainCount);
  const all = createDataset({ x: normalize(pixels, stats), y: Int32Array.from(cifar.train.labels), xShape: [3, 32, 32] });
  const train = subset(all, range(0, trainCount));
  const validation = subset(all, range(all.count - validationCount, all.count));
  let test: data.Dataset = createDataset({ x: normalize(scale(cifar.test.images, 1 / 255), stats), y: Int32Array.from(cifar.test.labels), xShape: [3, 32, 32] });
  if (o.testLimit !== undefined) test = subset(test, range(0, Math.min(o.testLimit, test.count)));

  const steps = o.epochs * Math.ceil(train.count / o.batchSize);
  const model = await buildModel((g) => {
    const x = g.input('x', ['batch', 3, 32, 32]);
    const y = g.input('y', ['batch'], 'i32');
    const logits = network(o.width)(x);
    return {
      x, y, output: logits,
      loss: softmaxCrossEntropy(logits, y),
      metrics: { accuracy: accuracy(logits, y) },
      optimizer: optim.adam({ lr: optim.schedules.cosine({ lr: o.lr, steps }) }),
    };
  }, { seed: o.seed, compile: (g) => compile(g, { backend: o.backend }) });

  log(model.summary());
  log(`backend ${model.exe.backend}: ${model.exe.description}`);
  log(`training on ${train.count} images (random crop, padding 4, and horizontal flip), validating on ${validation.count}, batch ${o.batchSize}, Adam lr ${o.lr} cosine over ${steps} steps`);

  const augmentations = [randomCrop({ padding: 4 }), randomHorizontalFlip()];
  const epochs: EpochLogs[] = [];
  try {
    for (let epoch = 0; epoch < o.epochs; epoch++) {
      // fit sees one epoch of freshly augmented images at a time; its epoch line says `k/k`, so say `k/epochs`.
      const history = await fit(model, augment(train, augmentations, { seed: o.seed, epoch }), {
        epochs: epoch + 1, initialEpoch: epoch, batchSize: o.batchSize, seed: o.seed, validation, validationBatchSize: 500,
        log: (line) => log(line.replace(/^epoch (\d+)\/\d+/, `epoch $1/${o.epochs}`)),
      });
      epochs.push(...history.epochs);
      if (history.stopReason) break;
    }
    if (o.out) {
      await saveCheckpoint(model, o.out, { epoch: epochs.length, metadata: { width: String(o.width), seed: String(o.seed) } });
      log(`saved checkpoint ${o.out}`);
    }
    const result = await evaluate(model, test, { batchSize: 500 });
    log(`test accuracy: ${(result['accuracy']! * 100).toFixed(2)}%`);
    return { epochs, test: result };
  } finally {
    await model.dispose();
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await runMain('cifar', () => main());
}

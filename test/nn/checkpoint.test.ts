// Checkpoints of a whole Executable: round trip (params, optimizer slots, running stats,
// counters), atomic writes, and every refusal leaving the model unchanged.
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createReferenceBackend } from '@kiln/core';
import { CheckpointError, decodeSafetensors, encodeSafetensors, type SafetensorsTensor } from '../../packages/nn/src/checkpoint';
import { batchNorm, dense, dropout } from '../../packages/nn/src/layers';
import { softmaxCrossEntropy } from '../../packages/nn/src/losses';
import { createDataset } from '../../packages/nn/src/data';
import { mse } from '../../packages/nn/src/losses';
import {
  buildModel, checkpointBytes, fit, loadCheckpoint, loadCheckpointBytes, type Model, modelCheckpoint, NonFiniteCheckpointError, saveCheckpoint,
} from '../../packages/nn/src/train';
import { momentum, sgd } from '../../packages/nn/src/optim';
import { blobs, maxDiff, snapshot } from './support';

const make = (hidden = 5, seed = 1): Promise<Model> => buildModel((g) => {
  const x = g.input('x', ['batch', 4]);
  const y = g.input('y', ['batch'], 'i32');
  const logits = dense(dropout(batchNorm(dense(x, hidden)).relu(), 0.1), 3);
  return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y), optimizer: momentum({ lr: 0.1, momentum: 0.9 }) };
}, { seed, compile: createReferenceBackend() });

let dir: string;
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'kiln-ckpt-')); });
afterAll(async () => { await rm(dir, { recursive: true, force: true }); });

async function trained(): Promise<Model> {
  const m = await make();
  await fit(m, blobs(40, 4, 3), { epochs: 2, batchSize: 8, verbose: false });
  return m;
}

describe('checkpoint round trip', () => {
  it('saves every param (weights, running stats, optimizer slots) and the counters; loads them back', async () => {
    const a = await trained();
    const path = join(dir, 'sub', 'a.safetensors');
    await saveCheckpoint(a, path, { epoch: 2, metadata: { note: 'hi' } });
    expect(await readdir(join(dir, 'sub'))).toEqual(['a.safetensors']); // no temporary file left behind

    const file = decodeSafetensors(new Uint8Array(await readFile(path)));
    expect(Object.keys(file.tensors).sort()).toEqual([...a.exe.paramNames].sort());
    expect(file.tensors['momentum/dense_1/kernel/velocity']).toMatchObject({ dtype: 'F32', shape: [4, 5] });
    expect(file.tensors['momentum/step']).toMatchObject({ dtype: 'I32', shape: [], data: Int32Array.of(10) }); // the optimizer's i32 step
    expect(file.tensors['batch_norm_1/moving_variance']).toMatchObject({ dtype: 'F32', shape: [5] });
    expect(file.metadata).toEqual({ note: 'hi', format: 'kiln-checkpoint', version: '1', runs: '10', steps: '10', epoch: '2', batch: '0' });

    const b = await make();
    const info = await loadCheckpoint(b, path);
    expect(info).toEqual({ epoch: 2, batch: 0, steps: 10, runs: 10, metadata: file.metadata });
    expect(maxDiff(await snapshot(b.exe), await snapshot(a.exe))).toBe(0);
    expect([b.exe.steps, b.exe.runs]).toEqual([10, 10]);

    // Bytes in memory work the same way.
    const c = await make();
    await loadCheckpointBytes(c, await checkpointBytes(a));
    expect(maxDiff(await snapshot(c.exe), await snapshot(a.exe))).toBe(0);
    for (const m of [a, b, c]) await m.dispose();
  });

  it('modelCheckpoint saves after each epoch with the next epoch to run', async () => {
    const m = await make();
    await fit(m, blobs(16, 4, 3), { epochs: 2, batchSize: 8, verbose: false, callbacks: [modelCheckpoint({ path: join(dir, 'cb-{epoch}.safetensors') })] });
    const files = (await readdir(dir)).filter((f) => f.startsWith('cb-')).sort();
    expect(files).toEqual(['cb-1.safetensors', 'cb-2.safetensors']);
    const fresh = await make();
    expect((await loadCheckpoint(fresh, join(dir, 'cb-2.safetensors'))).epoch).toBe(2);
    expect(maxDiff(await snapshot(fresh.exe), await snapshot(m.exe))).toBe(0);
    await m.dispose();
    await fresh.dispose();
  });

  it('refuses reserved metadata keys and bad positions before writing', async () => {
    const m = await make();
    await expect(saveCheckpoint(m, join(dir, 'r.safetensors'), { metadata: { steps: '3' } })).rejects.toThrow(/metadata key 'steps' is reserved/);
    await expect(saveCheckpoint(m, join(dir, 'r.safetensors'), { epoch: -1 })).rejects.toThrow(/epoch must be a non-negative integer/);
    expect((await readdir(dir)).filter((f) => f.startsWith('r.'))).toEqual([]);
    await m.dispose();
  });
});

describe('checkpoint refusals leave the model unchanged', () => {
  let source: Model;
  let good: { tensors: Record<string, SafetensorsTensor>; metadata: Record<string, string> };
  beforeAll(async () => {
    source = await trained();
    good = decodeSafetensors(await checkpointBytes(source, { epoch: 2 }));
  });
  afterAll(async () => { await source.dispose(); });

  const edit = (f: (t: Record<string, SafetensorsTensor>, m: Record<string, string>) => void) => {
    const tensors = { ...good.tensors };
    const metadata = { ...good.metadata };
    f(tensors, metadata);
    return encodeSafetensors(tensors, metadata);
  };
  const f32 = (shape: number[]) => ({ dtype: 'F32', shape, data: new Float32Array(shape.reduce((a, b) => a * b, 1)) }) as SafetensorsTensor;

  const cases: [string, () => Uint8Array, RegExp][] = [
    ['missing tensor', () => edit((t) => { delete t['dense_2/bias']; }), /missing tensor 'dense_2\/bias' \(F32 \[3\]\)/],
    ['missing optimizer slot', () => edit((t) => { delete t['momentum/dense_1/kernel/velocity']; }), /missing tensor 'momentum\/dense_1\/kernel\/velocity'/],
    ['wrong shape', () => edit((t) => { t['dense_1/kernel'] = f32([5, 4]); }), /tensor 'dense_1\/kernel' has shape \[5, 4\], the model's is \[4, 5\]/],
    ['wrong dtype', () => edit((t) => { t['dense_1/bias'] = { dtype: 'F64', shape: [5], data: new Float64Array(5) }; }), /tensor 'dense_1\/bias' has dtype F64, the model's is F32/],
    ['unknown tensor', () => edit((t) => { t['dense_9/kernel'] = f32([2]); }), /tensor not in the model: 'dense_9\/kernel'/],
    ['bad counter', () => edit((_t, m) => { m['steps'] = '-3'; }), /metadata 'steps' is '-3'/],
    ['other format', () => edit((_t, m) => { m['format'] = 'pytorch'; }), /metadata format is 'pytorch'/],
    ['several problems at once', () => edit((t) => { delete t['dense_2/bias']; t['dense_1/kernel'] = f32([1]); }), /tensor 'dense_1\/kernel' has shape \[1\], the model's is \[4, 5\]; missing tensor 'dense_2\/bias'/],
    ['truncated file', () => { const b = encodeSafetensors(good.tensors, good.metadata); return b.subarray(0, b.length - 7); }, /beyond|span|trailing|out of range/],
    ['not a safetensors file', () => new TextEncoder().encode('hello, this is not a checkpoint'), /header/],
  ];

  it.each(cases)('%s', async (_name, bytes, message) => {
    const m = await make(5, 42); // different seed: different initial params from `source`
    await fit(m, blobs(8, 4, 3), { epochs: 1, batchSize: 8, verbose: false });
    const before = await snapshot(m.exe);
    const counters = [m.exe.steps, m.exe.runs];
    const path = join(dir, `bad-${_name.replace(/\W+/g, '-')}.safetensors`);
    await writeFile(path, bytes());
    const err = await loadCheckpoint(m, path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message.startsWith(path)).toBe(true);
    expect(maxDiff(await snapshot(m.exe), before)).toBe(0);
    expect([m.exe.steps, m.exe.runs]).toEqual(counters);
    await m.dispose();
  });

  it('a checkpoint without the epoch sums (written before Model.statistics) loads, the sums at zero', async () => {
    const m = await make();
    const old = edit((t) => { for (const k of Object.keys(t)) if (k.startsWith('metrics/')) delete t[k]; });
    expect(Object.keys(decodeSafetensors(old).tensors)).not.toContain('metrics/count');
    await loadCheckpointBytes(m, old);
    expect((await m.exe.getParam('metrics/count')).data[0]).toBe(0);
    expect((await m.exe.getParam('dense_1/kernel')).data).toEqual(good.tensors['dense_1/kernel']!.data);
    await m.dispose();
  });

  it('a missing file is refused and a non-strict load ignores extra tensors', async () => {
    const m = await make();
    await expect(loadCheckpoint(m, join(dir, 'nope.safetensors'))).rejects.toThrow(/ENOENT/);
    const extra = edit((t) => { t['extra'] = f32([2]); });
    await loadCheckpointBytes(m, extra, { strict: false });
    expect(maxDiff(await snapshot(m.exe), await snapshot(source.exe))).toBe(0);
    await m.dispose();
  });
});

describe('checkpoints that keep their data', () => {
  /** Diverges within a few steps: a learning rate far too large on large targets. */
  const diverging = (): Promise<Model> => buildModel((g) => {
    const x = g.input('x', ['batch', 4]);
    const y = g.input('y', ['batch', 1]);
    const out = dense(x, 1);
    return { x, y, output: out, loss: mse(out, y), optimizer: sgd({ lr: 0.05 }) };
  }, { seed: 3, compile: createReferenceBackend() });
  const regression = () => {
    const b = blobs(32, 4, 2);
    return createDataset({ x: b.x, y: Float32Array.from(b.y, (v) => (v + 1) * 100), xShape: [4], yShape: [1] });
  };
  const finite = (t: SafetensorsTensor) => Array.from(t.data as Float32Array).every(Number.isFinite);

  it('a NaN stop never replaces the last good checkpoint; saveCheckpoint refuses non-finite params unless asked', async () => {
    const m = await diverging();
    const path = join(dir, 'nan.safetensors');
    const lines: string[] = [];
    const history = await fit(m, regression(), {
      epochs: 1, batchSize: 8, log: (l) => lines.push(l), callbacks: [modelCheckpoint({ path })],
    });
    expect(history.stopReason).toBeUndefined();
    const good = await readFile(path);
    expect(Object.values(decodeSafetensors(new Uint8Array(good)).tensors).every(finite)).toBe(true);

    // Now diverge: the epoch's loss and the params are non-finite, the file stays as it was.
    m.exe.setParam('dense_1/kernel', new Float32Array(4).fill(Infinity));
    const diverged = await fit(m, regression(), {
      epochs: 2, initialEpoch: 1, batchSize: 8, logEvery: 1, log: (l) => lines.push(l), callbacks: [modelCheckpoint({ path })],
    });
    expect(diverged.stopReason).toMatch(/^loss is (NaN|Infinity) at epoch 2, batch 1$/);
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`^modelCheckpoint: epoch 2 not saved to ${path}: loss is (NaN|Infinity)$`)));
    expect(Buffer.compare(await readFile(path), good)).toBe(0);

    const err = await saveCheckpoint(m, path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NonFiniteCheckpointError);
    expect(err).toBeInstanceOf(CheckpointError);
    expect((err as Error).message).toMatch(new RegExp(`^${path}: not saved: param '[^']+' holds (NaN|-?Infinity) at element \\d+ \\(the model has diverged`));
    expect(Buffer.compare(await readFile(path), good)).toBe(0);
    await saveCheckpoint(m, join(dir, 'nan-anyway.safetensors'), { allowNonFinite: true });
    expect(Object.values(decodeSafetensors(new Uint8Array(await readFile(join(dir, 'nan-anyway.safetensors')))).tensors).every(finite)).toBe(false);
    await m.dispose();

    // A metric that is NaN (0/0) leaves the model intact: its epoch sum is not held against the save.
    const nanMetric = await buildModel((g) => {
      const x = g.input('x', ['batch', 4]);
      const y = g.input('y', ['batch', 1]);
      const out = dense(x, 1);
      const loss = mse(out, y);
      return { x, y, output: out, loss, metrics: { undefinedRatio: loss.sub(loss).div(loss.sub(loss)) }, optimizer: sgd({ lr: 1e-5 }) };
    }, { seed: 3, compile: createReferenceBackend() });
    const h = await fit(nanMetric, regression(), { epochs: 1, batchSize: 8, verbose: false, callbacks: [modelCheckpoint({ path: join(dir, 'nan-metric.safetensors') })] });
    expect(h.epochs[0]!['undefinedRatio']).toBeNaN();
    const saved = decodeSafetensors(new Uint8Array(await readFile(join(dir, 'nan-metric.safetensors'))));
    expect(Array.from(saved.tensors['metrics/undefinedRatio/total']!.data as Float32Array)).toEqual([NaN]);
    await nanMetric.dispose();
  });

  it('a mid-epoch stop is saved at its batch; resuming is bit-identical to uninterrupted training, epoch logs included', async () => {
    const data = blobs(45, 4, 3); // batch 8: 6 batches an epoch, the last one of 5
    const validation = blobs(12, 4, 3, 5);
    const opts = { batchSize: 8, validation, verbose: false, logEvery: 4 } as const;
    const straight = await make(6, 9);
    const want = await fit(straight, data, { ...opts, epochs: 3 });

    const path = join(dir, 'mid.safetensors');
    const partial = await make(6, 9);
    await fit(partial, data, {
      ...opts, epochs: 3,
      callbacks: [
        { onBatchEnd(b, _logs, ctx) { if (ctx.epoch === 1 && b === 2) ctx.stopTraining = true; } },
        modelCheckpoint({ path }),
      ],
    });
    const resumed = await make(6, 9);
    const info = await loadCheckpoint(resumed, path);
    expect([info.epoch, info.batch]).toEqual([1, 3]);
    const rest = await fit(resumed, data, { ...opts, epochs: 3, initialEpoch: info.epoch, initialBatch: info.batch });
    expect(maxDiff(await snapshot(resumed.exe), await snapshot(straight.exe))).toBe(0);
    expect([resumed.exe.steps, resumed.exe.runs]).toEqual([straight.exe.steps, straight.exe.runs]);
    // The resumed epoch 2 reports the same means as the uninterrupted one: the sums were saved too.
    const strip = (e: Record<string, number>) => Object.fromEntries(Object.entries(e).filter(([k]) => k !== 'seconds' && k !== 'samplesPerSecond'));
    expect(rest.epochs.map(strip)).toEqual(want.epochs.slice(1).map(strip));
    for (const m of [straight, partial, resumed]) await m.dispose();
  });

  it('a checkpoint is a consistent snapshot between steps: runs called before the save are in it, runs called after are not; loads likewise', async () => {
    const m = await make(5, 4);
    const data = blobs(8, 4, 3);
    const feeds = { x: { data: data.x, shape: [8, 4] }, y: { data: data.y, shape: [8] } };
    await m.exe.run(feeds, {}, { train: true });
    const before = m.exe.steps;
    const inFlight = m.exe.run(feeds, {}, { train: true });
    const saving = saveCheckpoint(m, join(dir, 'flight.safetensors'));
    const after = m.exe.run(feeds, {}, { train: true });
    await saving;
    const file = decodeSafetensors(new Uint8Array(await readFile(join(dir, 'flight.safetensors'))));
    await inFlight;
    await after;
    expect(file.metadata['steps']).toBe(String(before + 1));
    // Replay: a fresh model at the same point has exactly the saved params.
    const replay = await make(5, 4);
    for (let i = 0; i < before + 1; i++) await replay.exe.run(feeds, {}, { train: true });
    const saved = new Map(Object.entries(file.tensors).map(([k, t]) => [k, Array.from(t.data as ArrayLike<number>)]));
    expect(maxDiff(saved, await snapshot(replay.exe))).toBe(0);

    // Loading is one step between runs too: the run called before it trains the old params
    // (and is then overwritten), the run called after it trains the loaded ones.
    const bytes = await checkpointBytes(replay);
    const loaded = await make(5, 4);
    const early = loaded.exe.run(feeds, {}, { train: true });
    const loading = loadCheckpointBytes(loaded, bytes);
    const late = loaded.exe.run(feeds, {}, { train: true });
    await Promise.all([early, loading, late]);
    await replay.exe.run(feeds, {}, { train: true });
    expect(maxDiff(await snapshot(loaded.exe), await snapshot(replay.exe))).toBe(0);
    expect(loaded.exe.steps).toBe(replay.exe.steps);
    for (const x of [m, replay, loaded]) await x.dispose();
  });
});

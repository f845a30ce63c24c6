// fit overlaps host and device (issue 16, item 6): step b+1 is queued before fit waits for
// step b, unless a callback has onBatchEnd; either way every step is finished, in order, and
// training gives the same params.
import { createReferenceBackend } from '@kiln/core';
import { dense } from '../../packages/nn/src/layers';
import { softmaxCrossEntropy } from '../../packages/nn/src/losses';
import { accuracy } from '../../packages/nn/src/metrics';
import { sgd } from '../../packages/nn/src/optim';
import { buildModel, type Callback, fit, type Model } from '../../packages/nn/src/train';
import { blobs, maxDiff, snapshot } from './support';

const tiny = (): Promise<Model> => buildModel((g) => {
  const x = g.input('x', ['batch', 4]);
  const y = g.input('y', ['batch'], 'i32');
  const logits = dense(x, 3);
  return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y), metrics: { accuracy: accuracy(logits, y) }, optimizer: sgd({ lr: 0.1 }) };
}, { seed: 2, compile: createReferenceBackend() });

/** Records when each training run is called and when it settles: 'call 0', 'done 0', ... */
function traced(model: Model): string[] {
  const events: string[] = [];
  const run0 = model.exe.run.bind(model.exe);
  let n = 0;
  model.exe.run = ((feeds: never, fetches: never, o?: { train?: boolean }) => {
    if (!o?.train) return run0(feeds, fetches, o);
    const k = n++;
    events.push(`call ${k}`);
    return run0(feeds, fetches, o).then((r) => { events.push(`done ${k}`); return r; });
  }) as typeof model.exe.run;
  return events;
}

describe('fit: host and device overlap', () => {
  it('queues the next step before waiting for the current one, and finishes the last', async () => {
    const model = await tiny();
    const events = traced(model);
    await fit(model, blobs(40, 4, 3), { epochs: 1, batchSize: 10, verbose: false });
    // step k+1 is called while step k is still running: call 1 comes before done 0
    expect(events).toEqual(['call 0', 'call 1', 'done 0', 'call 2', 'done 1', 'call 3', 'done 2', 'done 3']);
    await model.dispose();
  });

  it('a callback with onBatchEnd sees each step alone, with the same counters and params', async () => {
    const model = await tiny();
    const events = traced(model);
    const seen: { b: number; steps: number; runs: number | undefined }[] = [];
    const cb: Callback = { onBatchEnd: (b, _logs, ctx) => { seen.push({ b, steps: model.exe.steps, runs: ctx.resume.counters?.runs }); } };
    await fit(model, blobs(40, 4, 3), { epochs: 1, batchSize: 10, verbose: false, callbacks: [cb] });
    expect(events).toEqual(['call 0', 'done 0', 'call 1', 'done 1', 'call 2', 'done 2', 'call 3', 'done 3']);
    // the resume counters follow each step (the last batch of an epoch resumes at the next epoch)
    expect(seen).toEqual([{ b: 0, steps: 1, runs: 1 }, { b: 1, steps: 2, runs: 2 }, { b: 2, steps: 3, runs: 3 }, { b: 3, steps: 4, runs: undefined }]);
    const overlapped = await tiny();
    await fit(overlapped, blobs(40, 4, 3), { epochs: 1, batchSize: 10, verbose: false });
    expect(maxDiff(await snapshot(model.exe), await snapshot(overlapped.exe))).toBe(0);
    await model.dispose();
    await overlapped.dispose();
  });

  it('a step queued when the loss turns non-finite is finished and counted', async () => {
    const model = await tiny();
    const events = traced(model);
    const data = blobs(40, 4, 3);
    data.x.fill(Number.NaN, 0, 4); // the first sample: the loss is NaN from step 0 on
    const history = await fit(model, data, { epochs: 2, batchSize: 10, logEvery: 1, shuffle: false, verbose: false });
    expect(history.stopReason).toBe('loss is NaN at epoch 1, batch 1');
    expect(events).toEqual(['call 0', 'call 1', 'done 0', 'done 1']);
    expect(model.exe.steps).toBe(2);
    await model.dispose();
  });
});

// Text data and sampling: tokenizers (round trips, saved vocabulary), the split by document,
// next-token windows, the bigram baseline, and sampling / generation on the device.
import { compileWith, createReferenceBackend, Graph } from '@kiln/core';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  bigramCrossEntropy, ByteTokenizer, CharTokenizer, DataFormatError, loadTokenizer, nextTokenWindows, recordBatches, splitDocuments,
} from '../../packages/nn/src/data';
import { sampleLogits } from '../../packages/nn/src/sampling';
import { generate } from '../../packages/nn/src/train';

describe('tokenizers', () => {
  test('characters by frequency; unknown is id 0; round trip; saved and loaded', async () => {
    const tok = CharTokenizer.fromTexts(['abba', 'cab é']);
    expect(tok.vocab).toEqual(['a', 'b', ' ', 'c', 'é']); // a:3 b:3 then by code point
    expect(Array.from(tok.encode('bad é'))).toEqual([2, 1, 0, 3, 5]);
    expect(tok.decode(tok.encode('cab é'))).toBe('cab é');
    expect(tok.decode([0])).toBe('\uFFFD');
    expect(() => tok.decode([6])).toThrow(/outside 0..5/);
    const dir = await mkdtemp(join(tmpdir(), 'kiln-tok-'));
    try {
      await tok.save(join(dir, 'vocab.json'));
      const back = await loadTokenizer(join(dir, 'vocab.json'));
      expect(back.toJSON()).toEqual(tok.toJSON());
      await writeFile(join(dir, 'bad.json'), '{"kind":"char","vocab":["a","a"],"unknown":"?"}');
      await expect(loadTokenizer(join(dir, 'bad.json'))).rejects.toThrow(DataFormatError);
      await writeFile(join(dir, 'notjson.json'), '{');
      await expect(loadTokenizer(join(dir, 'notjson.json'))).rejects.toThrow(/not JSON/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    expect(CharTokenizer.fromTexts(['aab'], { minCount: 2 }).vocab).toEqual(['a']);
  });

  test('bytes: UTF-8 round trip', () => {
    const tok = new ByteTokenizer();
    expect(Array.from(tok.encode('é!'))).toEqual([0xc3, 0xa9, 0x21]);
    expect(tok.decode(tok.encode('naïve — ok'))).toBe('naïve — ok');
    expect(() => tok.decode([256])).toThrow(/not a byte/);
  });
});

describe('corpus', () => {
  test('split by whole documents, seeded, each side in the original order', () => {
    const docs = Array.from({ length: 20 }, (_, i) => `doc${i}`);
    const a = splitDocuments(docs, { validationFraction: 0.2, seed: 3 });
    expect(a.validation).toHaveLength(4);
    expect([...a.train, ...a.validation].sort()).toEqual([...docs].sort());
    expect(a.train).toEqual(docs.filter((d) => a.train.includes(d)));
    expect(splitDocuments(docs, { validationFraction: 0.2, seed: 3 })).toEqual(a);
    expect(splitDocuments(docs, { validationFraction: 0.2, seed: 4 }).validation).not.toEqual(a.validation);
    expect(() => splitDocuments(['one'], { validationFraction: 0.5 })).toThrow(RangeError);
  });

  test('next-token windows stay inside documents; targets are the inputs shifted by one', () => {
    const docs = [Int32Array.from([1, 2, 3, 4, 5, 6]), Int32Array.from([7, 8]), Int32Array.from([9, 10, 11, 12])];
    const ds = nextTokenWindows(docs, { length: 3, stride: 2 });
    expect(ds.count).toBe(3); // [1 2 3] [3 4 5] from doc 0, [9 10 11] from doc 2
    expect(Array.from(ds.columns['tokens']!.data)).toEqual([1, 2, 3, 3, 4, 5, 9, 10, 11]);
    expect(Array.from(ds.columns['targets']!.data)).toEqual([2, 3, 4, 4, 5, 6, 10, 11, 12]);
    // Seeded shuffling of windows: the same order for the same seed and epoch.
    const order = (epoch: number) => [...recordBatches(ds, { batchSize: 1, shuffle: true, seed: 5, epoch })].map((b) => b.columns['tokens']![0]);
    expect(order(0)).toEqual(order(0));
    expect(order(0).sort()).toEqual([1, 3, 9]);
  });

  test('the bigram baseline is the cross-entropy of smoothed bigram counts', () => {
    const train = [Int32Array.from([0, 1, 0, 1, 0])];
    // After 0 always 1, after 1 always 0: with alpha 0 a perfect predictor.
    expect(bigramCrossEntropy(train, train, 2, 0)).toBe(0);
    const h = bigramCrossEntropy(train, [Int32Array.from([0, 0])], 2, 1);
    expect(h).toBeCloseTo(-Math.log(1 / 4), 12); // counts 0->0: 0, 0->1: 2; (0 + 1) / (2 + 2)
  });
});

describe('sampling on the device', () => {
  test('greedy is argmax; topK 1 is argmax at any temperature; topK 2 draws only the two largest, about as softmax says', async () => {
    const g = new Graph({ seed: 1 });
    const logits = g.input('logits', ['batch', 4]);
    const greedy = sampleLogits(logits, { temperature: 0 });
    const top1 = sampleLogits(logits, { temperature: 5, topK: 1 });
    const top2 = sampleLogits(logits, { topK: 2 });
    const all = sampleLogits(logits);
    const exe = await compileWith(g, createReferenceBackend());
    const n = 2000;
    const row = [0.5, 2, -1, 1.5];
    const r = await exe.run({ logits: { data: Float32Array.from({ length: n * 4 }, (_, i) => row[i % 4]!), shape: [n, 4] } }, { greedy, top1, top2, all });
    expect(new Set(r.greedy.data)).toEqual(new Set([1]));
    expect(new Set(r.top1.data)).toEqual(new Set([1]));
    expect(new Set(r.top2.data)).toEqual(new Set([1, 3]));
    const freq = (d: ArrayLike<number>, k: number) => Array.from(d).filter((v) => v === k).length / n;
    const p1 = Math.exp(2) / (Math.exp(2) + Math.exp(1.5));
    expect(Math.abs(freq(r.top2.data, 1) - p1)).toBeLessThan(0.04); // 2000 draws: sd about 0.011
    const z = row.reduce((a, v) => a + Math.exp(v), 0);
    row.forEach((v, k) => expect(Math.abs(freq(r.all.data, k) - Math.exp(v) / z)).toBeLessThan(0.04));
    // A second run draws afresh.
    const again = await exe.run({ logits: { data: Float32Array.from({ length: n * 4 }, (_, i) => row[i % 4]!), shape: [n, 4] } }, { all });
    expect(Array.from(again.all.data)).not.toEqual(Array.from(r.all.data));
    await exe.dispose();
    expect(() => sampleLogits(logits, { topK: 5 })).toThrow(/topK 5 is more than the vocab of 4/);
    expect(() => sampleLogits(logits, { temperature: -1 })).toThrow();
  });

  test('generate feeds the last window and appends each sampled id', async () => {
    // A "model" that predicts (last id + 1) mod 5 greedily, from one-hot logits.
    const g = new Graph();
    const window = g.input('tokens', ['batch', 3], 'i32');
    const last = window.slice({ begin: [0, 2], size: [-1, 1] }).squeeze(1);
    const logits = last.add(1).oneHot(6).slice({ begin: [0, 0], size: [-1, 5] }).add(last.add(1).equal(5).cast('f32').reshape(['batch', 1]).mul(g.constant([1, 0, 0, 0, 0])));
    const exe = await compileWith(g, createReferenceBackend());
    const ids = await generate(exe, { input: window, next: sampleLogits(logits, { temperature: 0 }), prompt: [2], steps: 6 });
    expect(Array.from(ids)).toEqual([3, 4, 0, 1, 2, 3]);
    await exe.dispose();
  });
});

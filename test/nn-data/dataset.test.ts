import {
  batchCount, batches, createDataset, mixSeed, shuffleIndices, subset, trainValidationSplit,
} from '../../packages/nn/src/data';

/** n samples; sample i has x = [i, 10*i] and label i. */
function indexed(n: number) {
  const x = new Float32Array(2 * n);
  for (let i = 0; i < n; i++) { x[2 * i] = i; x[2 * i + 1] = 10 * i; }
  return createDataset({ x, y: Int32Array.from({ length: n }, (_, i) => i), xShape: [2] });
}

describe('shuffleIndices', () => {
  it('is a deterministic permutation that depends on the seed', () => {
    const a = shuffleIndices(100, 7);
    expect(Array.from(a)).toEqual(Array.from(shuffleIndices(100, 7)));
    expect(Array.from(a).sort((p, q) => p - q)).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(a)).not.toEqual(Array.from(shuffleIndices(100, 8)));
    expect(Array.from(a)).not.toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(shuffleIndices(0, 1).length).toBe(0);
  });

  it('draws every permutation about equally often (no Fisher-Yates off-by-one bias)', () => {
    const counts = new Map<string, number>();
    const trials = 24000;
    for (let s = 0; s < trials; s++) {
      const key = shuffleIndices(4, mixSeed(s, 99)).join('');
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    expect(counts.size).toBe(24);
    for (const c of counts.values()) expect(Math.abs(c - 1000)).toBeLessThan(150); // ~5 sigma
  });
});

describe('createDataset', () => {
  it('works out count and refuses inconsistent sizes', () => {
    const ds = createDataset({ x: new Float32Array(12), y: new Float32Array(6), xShape: [2, 2], yShape: [2] });
    expect(ds.count).toBe(3);
    expect(() => createDataset({ x: new Float32Array(10), y: new Int32Array(3), xShape: [4] })).toThrow(/not a multiple/);
    expect(() => createDataset({ x: new Float32Array(8), y: new Int32Array(3), xShape: [4] })).toThrow(/expected 2/);
  });
});

describe('batches', () => {
  it('yields the last partial batch, in order when not shuffled', () => {
    const ds = indexed(10);
    const bs = [...batches(ds, { batchSize: 4 })];
    expect(bs.map((b) => b.size)).toEqual([4, 4, 2]);
    expect(Array.from(bs[2]!.x)).toEqual([8, 80, 9, 90]);
    expect(Array.from(bs[2]!.y)).toEqual([8, 9]);
    expect(bs[0]!.y).toBeInstanceOf(Int32Array);
    expect(batchCount(10, 4)).toBe(3);
    // copies, not views: writing a batch leaves the dataset alone
    bs[0]!.x[0] = -1;
    expect(ds.x[0]).toBe(0);
  });

  it('drops the partial batch only when asked', () => {
    expect([...batches(indexed(10), { batchSize: 4, dropLast: true })].map((b) => b.size)).toEqual([4, 4]);
    expect(batchCount(10, 4, true)).toBe(2);
  });

  it('shuffles deterministically per (seed, epoch), keeping x and y together', () => {
    const ds = indexed(50);
    const order = (epoch: number, seed = 3) =>
      [...batches(ds, { batchSize: 16, shuffle: true, seed, epoch })].flatMap((b) => {
        for (let k = 0; k < b.size; k++) {
          expect(b.x[2 * k]).toBe(b.y[k]); // row k still belongs to label k
          expect(b.x[2 * k + 1]).toBe(10 * b.y[k]!);
        }
        return Array.from(b.y);
      });
    const e0 = order(0);
    expect(e0.length).toBe(50);
    expect([...e0].sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(order(0)).toEqual(e0); // replayable
    expect(order(1)).not.toEqual(e0); // a new order each epoch
    expect(order(0, 4)).not.toEqual(e0); // and per seed
    expect([...batches(ds, { batchSize: 16, shuffle: true })].map((b) => b.size)).toEqual([16, 16, 16, 2]);
  });

  it('keeps Float32 (one-hot) labels with their shape', () => {
    const ds = createDataset({ x: new Float32Array([1, 2, 3]), y: new Float32Array([1, 0, 0, 1, 1, 0]), xShape: [1], yShape: [2] });
    const [b0, b1] = [...batches(ds, { batchSize: 2 })];
    expect(b0!.y).toBeInstanceOf(Float32Array);
    expect(Array.from(b0!.y)).toEqual([1, 0, 0, 1]);
    expect(Array.from(b1!.y)).toEqual([1, 0]);
  });

  it('refuses a bad batch size', () => {
    expect(() => [...batches(indexed(3), { batchSize: 0 })]).toThrow(RangeError);
  });
});

describe('trainValidationSplit / subset', () => {
  it('splits sizes by fraction into disjoint, complete, deterministic parts', () => {
    const ds = indexed(100);
    const { train, validation } = trainValidationSplit(ds, { validationFraction: 0.2, seed: 5 });
    expect([train.count, validation.count]).toEqual([80, 20]);
    expect(train.x.length).toBe(160);
    const all = [...train.y, ...validation.y].sort((a, b) => a - b);
    expect(all).toEqual(Array.from({ length: 100 }, (_, i) => i));
    expect(Array.from(trainValidationSplit(ds, { validationFraction: 0.2, seed: 5 }).validation.y)).toEqual(Array.from(validation.y));
    // shuffled: the validation set is not just the tail
    expect(Array.from(validation.y)).not.toEqual(Array.from({ length: 20 }, (_, i) => 80 + i));
    expect(validation.x[0]).toBe(validation.y[0]);
  });

  it('takes the tail without shuffling, and rounds the count', () => {
    const { train, validation } = trainValidationSplit(indexed(10), { validationFraction: 0.25, shuffle: false });
    expect(validation.count).toBe(3); // round(2.5) = 3
    expect(Array.from(validation.y)).toEqual([7, 8, 9]);
    expect(train.count).toBe(7);
  });

  it('refuses fractions that leave a side empty', () => {
    expect(() => trainValidationSplit(indexed(10), { validationFraction: 0 })).toThrow(/must be in \(0, 1\)/);
    expect(() => trainValidationSplit(indexed(10), { validationFraction: 1 })).toThrow(RangeError);
    expect(() => trainValidationSplit(indexed(3), { validationFraction: 0.1 })).toThrow(/leaves one side empty/);
  });

  it('subset gathers rows in the given order and refuses bad indices', () => {
    const s = subset(indexed(5), [4, 0]);
    expect(Array.from(s.x)).toEqual([4, 40, 0, 0]);
    expect(Array.from(s.y)).toEqual([4, 0]);
    expect(() => subset(indexed(5), [5])).toThrow(/index 5 at position 0 is out of range 0..4/);
  });
});

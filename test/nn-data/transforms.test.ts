import { augment, createDataset, DataFormatError, fitStandardizer, normalize, oneHot, randomCrop, randomHorizontalFlip, scale } from '../../packages/nn/src/data';

describe('scale / normalize', () => {
  it('scale maps bytes to floats', () => {
    expect(Array.from(scale(new Uint8Array([0, 51, 255]), 1 / 255))).toEqual([0, Math.fround(0.2), 1]);
    expect(Array.from(scale([1, 2], 2, -1))).toEqual([1, 3]);
  });

  it('normalize with scalar and per-feature statistics', () => {
    expect(Array.from(normalize([1, 3, 5], { mean: 3, std: 2 }))).toEqual([-1, 0, 1]);
    // rows of 2 features: feature 0 mean 10 std 5, feature 1 mean 0 std 0.5
    expect(Array.from(normalize([10, 1, 20, -1], { mean: [10, 0], std: [5, 0.5] }))).toEqual([0, 2, 2, -2]);
  });

  it('normalize refuses mismatched or non-positive statistics', () => {
    expect(() => normalize([1, 2, 3], { mean: [0, 0], std: 1 })).toThrow(/not a multiple of featureSize 2/);
    expect(() => normalize([1, 2], { mean: [0, 0], std: [1, 0] })).toThrow(/std\[1\] is 0/);
    expect(() => normalize([1, 2], { mean: [0, 0, 0], std: [1, 1] })).toThrow(/mean has 3 values and std 2/);
  });
});

describe('fitStandardizer', () => {
  it('fits per-feature mean and population std, with std 1 for a constant feature', () => {
    // features: [1, 3, 5] (mean 3, var 8/3) and [5, 5, 5] (constant)
    const s = fitStandardizer(new Float32Array([1, 5, 3, 5, 5, 5]), 2);
    expect(Array.from(s.mean)).toEqual([3, 5]);
    expect(s.std[0]).toBeCloseTo(Math.sqrt(8 / 3), 6);
    expect(s.std[1]).toBe(1);
    const z = s.apply(new Float32Array([1, 5, 3, 5, 5, 5]));
    const k = 1 / Math.sqrt(8 / 3);
    const expected = [-2 * k, 0, 0, 0, 2 * k, 0];
    z.forEach((v, i) => expect(v).toBeCloseTo(expected[i]!, 5));
  });

  it('gives zero mean and unit std on the data it was fitted on, and reuses stats on new data', () => {
    const n = 1000, f = 3;
    const x = new Float32Array(n * f);
    for (let i = 0; i < n; i++) { x[i * f] = 1000 + (i % 7); x[i * f + 1] = i * 0.01; x[i * f + 2] = -(i % 3); }
    const s = fitStandardizer(x, f);
    const z = s.apply(x);
    for (let j = 0; j < f; j++) {
      let m = 0, v = 0;
      for (let i = 0; i < n; i++) m += z[i * f + j]!;
      m /= n;
      for (let i = 0; i < n; i++) v += (z[i * f + j]! - m) ** 2;
      expect(Math.abs(m)).toBeLessThan(1e-4);
      expect(Math.sqrt(v / n)).toBeCloseTo(1, 4);
    }
    // test data is transformed with the training stats, not its own
    expect(s.apply([1000, 0, 0])[1]).toBeCloseTo((0 - s.mean[1]!) / s.std[1]!, 5);
    expect(() => fitStandardizer(new Float32Array(5), 2)).toThrow(RangeError);
  });
});

describe('oneHot', () => {
  it('sets one column per row', () => {
    expect(Array.from(oneHot(new Int32Array([2, 0, 1]), 3))).toEqual([0, 0, 1, 1, 0, 0, 0, 1, 0]);
  });
  it('refuses labels out of range', () => {
    expect(() => oneHot([0, 3], 3)).toThrow(new DataFormatError('oneHot: label 3 at index 1 is out of range 0..2'));
    expect(() => oneHot([-1], 3)).toThrow(DataFormatError);
    expect(() => oneHot([0.5], 3)).toThrow(DataFormatError);
  });
});

/** A `random` that returns the given values in turn. */
const scripted = (...values: number[]) => () => {
  if (!values.length) throw new Error('scripted random: out of values');
  return values.shift()!;
};

describe('randomCrop', () => {
  // one 1x3x3 image 1..9 and one 2x2x2 image
  const img = Float32Array.from({ length: 9 }, (_, i) => i + 1);

  it('shifts the content by the drawn offset, filling what comes from the padding', () => {
    // span 3 for padding 1: draws 0 -> offset -1, 2/3 -> 0, 0.99 -> +1; rows first, then columns
    expect(Array.from(randomCrop({ padding: 1 })(img, [1, 3, 3], 1, scripted(0, 0.99)))).toEqual([0, 0, 0, 2, 3, 0, 5, 6, 0]);
    expect(Array.from(randomCrop({ padding: 1, fill: -1 })(img, [1, 3, 3], 1, scripted(0.99, 0.5)))).toEqual([4, 5, 6, 7, 8, 9, -1, -1, -1]);
    expect(Array.from(randomCrop({ padding: 0 })(img, [1, 3, 3], 1, scripted(0.7, 0.2)))).toEqual(Array.from(img));
    // a padding larger than the image can leave nothing of it
    expect(Array.from(randomCrop({ padding: 5 })(img, [1, 3, 3], 1, scripted(0, 0)))).toEqual(new Array(9).fill(0));
  });

  it('moves every channel of an image alike and draws per image', () => {
    const two = Float32Array.from({ length: 16 }, (_, i) => i); // 2 images of 2x2x2
    const out = randomCrop({ padding: 1 })(two, [2, 2, 2], 2, scripted(0.5, 0.99, 0.5, 0.5));
    // image 0: rows unchanged, columns shifted left by 1; image 1 unchanged
    expect(Array.from(out)).toEqual([1, 0, 3, 0, 5, 0, 7, 0, 8, 9, 10, 11, 12, 13, 14, 15]);
  });

  it('refuses bad padding and samples that are not CHW', () => {
    expect(() => randomCrop({ padding: -1 })).toThrow(RangeError);
    expect(() => randomCrop({ padding: 1.5 })).toThrow('randomCrop: padding must be a non-negative integer, got 1.5');
    expect(() => randomCrop({ padding: 1 })(img, [9], 1, Math.random)).toThrow('randomCrop: samples must be CHW images [channels, height, width], got [9]');
  });
});

describe('randomHorizontalFlip', () => {
  const two = Float32Array.from({ length: 12 }, (_, i) => i); // 2 images of 1 channel, 2x3

  it('mirrors the images whose draw is below the probability', () => {
    expect(Array.from(randomHorizontalFlip()(two, [1, 2, 3], 2, scripted(0.2, 0.7)))).toEqual([2, 1, 0, 5, 4, 3, 6, 7, 8, 9, 10, 11]);
    expect(Array.from(randomHorizontalFlip({ probability: 1 })(two, [1, 2, 3], 2, scripted(0.99, 0.99)))).toEqual([2, 1, 0, 5, 4, 3, 8, 7, 6, 11, 10, 9]);
    expect(Array.from(randomHorizontalFlip({ probability: 0 })(two, [1, 2, 3], 2, scripted(0, 0)))).toEqual(Array.from(two));
  });

  it('refuses a probability outside [0, 1]', () => {
    expect(() => randomHorizontalFlip({ probability: 1.5 })).toThrow('randomHorizontalFlip: probability must be in [0, 1], got 1.5');
    expect(() => randomHorizontalFlip({ probability: NaN })).toThrow(RangeError);
  });
});

describe('augment', () => {
  // 400 1x1x2 images [0, 1]: a crop of padding 1 moves at most the one pixel in or out of view
  const n = 400;
  const ds = createDataset({ x: Float32Array.from({ length: 2 * n }, (_, i) => (i % 2) + 1), y: Int32Array.from({ length: n }, (_, i) => i % 3), xShape: [1, 1, 2] });
  const augs = [randomCrop({ padding: 1 }), randomHorizontalFlip()];

  it('is reproducible in (seed, epoch), fresh per epoch, and leaves the dataset as it was', () => {
    const a = augment(ds, augs, { seed: 7, epoch: 0 });
    expect(Array.from(augment(ds, augs, { seed: 7, epoch: 0 }).x)).toEqual(Array.from(a.x));
    expect(Array.from(augment(ds, augs, { seed: 7, epoch: 1 }).x)).not.toEqual(Array.from(a.x));
    expect(Array.from(augment(ds, augs, { seed: 8, epoch: 0 }).x)).not.toEqual(Array.from(a.x));
    expect(a.y).toBe(ds.y);
    expect(a.count).toBe(n);
    expect(Array.from(ds.x.subarray(0, 4))).toEqual([1, 2, 1, 2]);
  });

  it('draws every crop offset and both flips', () => {
    // Each possible 1x2 result of a shift by dx in -1..1, then an optional flip.
    const out = augment(ds, augs, { seed: 3 }).x;
    const seen = new Map<string, number>();
    for (let i = 0; i < n; i++) seen.set(`${out[2 * i]},${out[2 * i + 1]}`, (seen.get(`${out[2 * i]},${out[2 * i + 1]}`) ?? 0) + 1);
    // dy = +-1 blanks the image (3 of 9 offsets with dy 0 keep it): [0,0]; dx -1: [0,1] or flipped [1,0];
    // dx 0: [1,2] or [2,1]; dx +1: [2,0] or [0,2].
    expect([...seen.keys()].sort()).toEqual(['0,0', '0,1', '0,2', '1,0', '1,2', '2,0', '2,1']);
    expect(seen.get('0,0')! / n).toBeGreaterThan(0.55); // 6/9 expected
    expect(seen.get('0,0')! / n).toBeLessThan(0.78);
  });
});

import { DataFormatError, fitStandardizer, normalize, oneHot, scale } from '../../packages/nn/src/data';

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

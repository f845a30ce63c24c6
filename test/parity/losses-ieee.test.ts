// Losses at infinite logits on every backend (issue 10 §4 D): a mask or a target weight of 0
// must give 0, never 0 * Inf = NaN or Inf - Inf = NaN.
import { compileWith, Graph } from '@kiln/core';
import { nn } from '@kiln/nn';
import { describeBackends, orSkip } from '../support/backends';

describeBackends('losses at infinite logits', (b) => {
  test('binaryCrossEntropy and softmaxCrossEntropy', () => orSkip(async () => {
    const g = new Graph();
    const z = g.input('z', [6]);
    const t = g.input('t', [6]);
    const bce = nn.binaryCrossEntropy(z, t, { reduction: 'none' });
    const logits = g.input('logits', [2, 5]);
    const labels = g.input('labels', [2], 'i32');
    const sce = nn.softmaxCrossEntropy(logits, labels, { reduction: 'none' });
    const exe = await compileWith(g, await b.make());
    try {
      const r = await exe.run({
        z: Float32Array.of(-Infinity, Infinity, -Infinity, Infinity, NaN, 0),
        t: Float32Array.of(0, 1, 1, 0, 1, 0.5),
        logits: Float32Array.of(4, -Infinity, 4, 4, 4, 0, 0, -Infinity, -Infinity, 0),
        labels: Int32Array.of(2, 4),
      }, { bce, sce });
      expect(Array.from(r.bce!.data)).toEqual([0, 0, Infinity, Infinity, NaN, Math.fround(Math.LN2)]);
      expect(r.sce!.data[0]).toBeCloseTo(Math.log(4), 6);
      expect(r.sce!.data[1]).toBeCloseTo(Math.log(3), 6);
    } finally {
      await exe.dispose();
    }
  }));
});

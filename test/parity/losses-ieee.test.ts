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
    const [dLogits] = g.grad(sce.sum(), [logits]);
    const exe = await compileWith(g, await b.make());
    try {
      const r = await exe.run({
        z: Float32Array.of(-Infinity, Infinity, -Infinity, Infinity, NaN, 0),
        t: Float32Array.of(0, 1, 1, 0, 1, 0.5),
        logits: Float32Array.of(4, -Infinity, 4, 4, 4, 0, 0, -Infinity, -Infinity, 0),
        labels: Int32Array.of(2, 4),
      }, { bce, sce, dLogits: dLogits! });
      expect(Array.from(r.bce!.data)).toEqual([0, 0, Infinity, Infinity, NaN, Math.fround(Math.LN2)]);
      expect(r.sce!.data[0]).toBeCloseTo(Math.log(4), 6);
      expect(r.sce!.data[1]).toBeCloseTo(Math.log(3), 6);
      // softmax - one-hot: the -inf logit has probability 0 and gradient 0.
      const want = [0.25, 0, -0.75, 0.25, 0.25, 1 / 3, 1 / 3, 0, 0, -2 / 3];
      Array.from(r.dLogits!.data).forEach((v, i) => expect(v).toBeCloseTo(want[i]!, 6));
    } finally {
      await exe.dispose();
    }
  }));
});

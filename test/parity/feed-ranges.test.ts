// Fed labels and gather indices out of range on every device backend: a FeedError naming the
// input, the position, the value and the range, before anything is dispatched; the
// Executable (and its params) still work afterwards. (The reference backend: test/core/errors.)
import { compileWith, FeedError, Graph } from '@kiln/core';
import { describeBackends, orSkip } from '../support/backends';
import { watchWork } from '../support/observe-work';

describeBackends('fed index ranges', (b) => {
  it('refuses out-of-range labels and indices without dispatching', () => orSkip(async () => {
    const g = new Graph();
    const ids = g.input('ids', ['batch'], 'i32');
    const y = g.input('y', ['batch'], 'i32');
    const table = g.param('table', [4, 10], { init: 'glorotUniform' });
    const loss = table.gather(ids).softmaxCrossEntropy(y).mean();
    const backend = await b.make();
    const work = watchWork(backend);
    try {
      const exe = await compileWith(g, backend);
      const good = { ids: Int32Array.of(0, 3), y: Int32Array.of(9, 0) };
      const first = await exe.run(good, { loss });
      const before = work.counts();
      expect(before.programRuns).toBe(1);
      const bad: [Record<string, Int32Array>, string][] = [
        [{ ids: Int32Array.of(0, 3), y: Int32Array.of(1, 12) }, "feed 'y': value 12 at position [1] is out of range for softmaxCrossEntropy labels (10 classes): valid range is [0, 10)"],
        [{ ids: Int32Array.of(0, 3), y: Int32Array.of(-1, 0) }, "feed 'y': value -1 at position [0] is out of range for softmaxCrossEntropy labels (10 classes)"],
        [{ ids: Int32Array.of(4, 0), y: Int32Array.of(1, 2) }, "feed 'ids': value 4 at position [0] is out of range for gather indices (axis 0 of size 4): valid range is [0, 4)"],
      ];
      for (const [feeds, msg] of bad) {
        await expect(exe.run(feeds, { loss })).rejects.toBeInstanceOf(FeedError);
        await expect(exe.run(feeds, { loss })).rejects.toThrow(msg);
      }
      expect(work.counts()).toEqual(before);
      const again = await exe.run(good, { loss });
      expect(again.loss.data[0]).toBe(first.loss.data[0]);
      expect(work.programRuns).toBe(before.programRuns + 1);
      if (before.submits !== null) expect(work.submits).toBe(before.submits + 1);
      await exe.dispose();
    } finally {
      work.restore();
    }
  }));
});

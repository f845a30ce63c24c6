// Bad feeds on every device backend: a FeedError before anything is dispatched, and the
// Executable (and its params) still work afterwards; use after dispose is a clear error.
// "Nothing dispatched" is observed on the backend (program runs; queue submits and dispatches
// on the WebGPU device), not read from its own counters.
import { compileWith, DisposedError, FeedError, Graph } from '@kiln/core';
import { describeBackends, orSkip } from '../support/backends';
import { watchWork } from '../support/observe-work';

describeBackends('bad input', (b) => {
  it('refuses missing, unknown, wrong-shape and wrong-dtype feeds without dispatching', () => orSkip(async () => {
    const g = new Graph();
    const x = g.input('x', ['batch', 3]);
    const i = g.input('i', ['batch'], 'i32');
    const w = g.param('w', [3], { init: [1, 2, 3] });
    const y = x.mul(w).sum({ axes: [1] }).add(i.cast('f32'));
    const backend = await b.make();
    const work = watchWork(backend);
    try {
      const exe = await compileWith(g, backend);
      const ok = await exe.run({ x: Float32Array.of(1, 1, 1, 2, 2, 2), i: Int32Array.of(1, 2) }, { y });
      expect(Array.from(ok.y.data)).toEqual([7, 14]);
      const before = work.counts();
      expect(before.programRuns).toBe(1);
      const bad: [Record<string, unknown>, RegExp][] = [
        [{ x: new Float32Array(6) }, /missing feed 'i'/],
        [{ x: new Float32Array(6), i: new Int32Array(2), q: new Float32Array(1) }, /unknown feed 'q'/],
        [{ x: new Float32Array(5), i: new Int32Array(2) }, /not a whole number of \[3\] rows/],
        [{ x: new Int32Array(6), i: new Int32Array(2) }, /dtype i32 \(Int32Array\) does not match input dtype f32/],
        [{ x: { data: new Float32Array(6), shape: [3, 2] }, i: new Int32Array(2) }, /does not match input \['batch', 3\]|does not match input \[batch, 3\]/],
        [{ x: new Float32Array(6), i: new Int32Array(3) }, /dim 'batch' is 3 here but 2/],
        [{ x: { data: new Float32Array(6), shape: [-2, -3] }, i: new Int32Array(2) }, /feed 'x': dim 0 of the fed shape is -2; every dim must be a non-negative integer/],
        [{ x: new Float32Array(6), i: [1, 2.5] }, /feed 'i': element 1 is 2.5, not an i32/],
      ];
      for (const [feeds, msg] of bad) {
        const p = exe.run(feeds as never, { y });
        await expect(p).rejects.toBeInstanceOf(FeedError);
        await expect(exe.run(feeds as never, { y })).rejects.toThrow(msg);
      }
      expect(work.counts()).toEqual(before);
      const again = await exe.run({ x: Float32Array.of(1, 1, 1, 2, 2, 2), i: Int32Array.of(1, 2) }, { y });
      expect(Array.from(again.y.data)).toEqual([7, 14]);
      // The watch sees a good run (so its silence above means something).
      expect(work.programRuns).toBe(before.programRuns + 1);
      if (before.submits !== null) expect(work.submits).toBe(before.submits + 1);
      if (before.dispatches !== null) expect(work.dispatches).toBeGreaterThan(before.dispatches!);
      expect(Array.from((await exe.getParam('w')).data)).toEqual([1, 2, 3]);
      await exe.dispose();
      await expect(exe.run({ x: new Float32Array(3), i: new Int32Array(1) }, { y })).rejects.toThrow(DisposedError);
      await expect(exe.getParam('w')).rejects.toThrow(DisposedError);
    } finally {
      work.restore();
    }
  }));
});

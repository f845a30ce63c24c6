// Gradients (graph autodiff) computed on every device backend against the float64 reference.
import { compileWith, evaluate, mulberry32 } from '@kiln/core';
import { describeBackends, orSkip } from '../support/backends';
import { buildCase, caseName, differentiableCases, expectClose, gradInputs } from '../support/harness';

describeBackends('gradient parity', (b) => {
  test.each(differentiableCases().map((c) => [caseName(c), c] as const))('%s', (_, c) => orSkip(async () => {
    const built = buildCase(c);
    const { g, out, xs, feeds } = built;
    const n = (out.shape as number[]).reduce((p, q) => p * q, 1);
    const rand = mulberry32(99);
    const loss = out.mul(g.constant(Array.from({ length: n }, () => rand() * 2 - 1), out.shape as number[])).sum();
    const grads = g.grad(loss, gradInputs(c, built).map((k) => xs[k]!));
    const fetch = Object.fromEntries(grads.map((t, i) => [`g${i}`, t]));
    const want = evaluate(g, feeds, fetch);
    const exe = await compileWith(g, await b.make());
    try {
      const got = await exe.run(feeds, fetch);
      for (const k of Object.keys(fetch)) expectClose(got[k]!.data, want[k]!.data, c.atol ?? 1e-4, c.rtol ?? 1e-3, `${caseName(c)} ${k}`);
    } finally {
      await exe.dispose();
    }
  }));
});

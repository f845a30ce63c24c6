// Device memory of a compiled program (issue 16, item 5): the peak next to the sum of its
// intermediates, from the plan alone, so every number here is computed by hand.
import { compileWith, createReferenceBackend, Graph, GraphError, programMemory } from '@kiln/core';
import { optim } from '@kiln/nn';

/** x[8,8] -> three chained 8x8 matmuls -> sum: three 256-byte temps and a 4-byte result. */
function chain() {
  const g = new Graph();
  const x = g.input('x', [8, 8]);
  const w = g.param('w', [8, 8], { init: 'glorotUniform' });
  const a = x.matmul(w);
  const b = a.matmul(w);
  const y = b.matmul(w).sum();
  return { g, y, feeds: { x: new Float32Array(64).fill(0.5) } };
}

describe('program memory', () => {
  it('counts params, feeds, the planned slots and every intermediate unshared', async () => {
    const { g, y } = chain();
    const exe = await compileWith(g, createReferenceBackend());
    // temps: a, b, b@w (256 B each) and the sum (4 B); a's slot is free again when b@w is
    // written, and b's when the sum is, so two 256-byte slots hold all four
    expect(programMemory(exe.plan({ y }))).toEqual({
      paramBytes: 256,
      inputBytes: 256,
      intermediateBytes: 3 * 256 + 4,
      plannedBytes: 2 * 256,
      peakBytes: 256 + 256 + 2 * 256,
      savedBytes: 256 + 4,
    });
  });

  it('memoryReport() is the last run\'s program; a GraphError before any run', async () => {
    const { g, y, feeds } = chain();
    const exe = await compileWith(g, createReferenceBackend());
    expect(() => exe.memoryReport()).toThrow(GraphError);
    await exe.run(feeds, { y });
    expect(exe.memoryReport()).toEqual(programMemory(exe.plan({ y })));
    await exe.dispose();
  });

  it('profileReport() carries the memory and prints it on its last line', async () => {
    const { g, y, feeds } = chain();
    const inner = createReferenceBackend();
    const exe = await compileWith(g, {
      ...inner,
      lower: async (plan) => {
        const p = await inner.lower(plan);
        return {
          run: async (f, fetch, o) => ({ ...(await p.run(f, fetch, o)), profile: [{ kernel: 'matmul', ops: ['matmul'], shapes: '[8,8]', ms: 1, bytes: 768, flops: 1024 }] }),
          dispose: () => p.dispose(),
        };
      },
    });
    await exe.run(feeds, { y }, { profile: true });
    const report = exe.profileReport();
    expect(report.memory).toEqual(exe.memoryReport());
    expect(report.text.split('\n').at(-1)).toBe('device memory: peak 1.0 KiB (params 256 B, feeds+constants 256 B, intermediates 512 B planned vs 772 B unshared)');
  });

  it('a training step: Adam\'s moments count as params, its gradients as shared intermediates', async () => {
    const g = new Graph({ seed: 1 });
    const x = g.input('x', [16, 32]);
    let h = x;
    for (let i = 0; i < 4; i++) h = h.matmul(g.param(`w${i}`, [32, 32], { init: 'glorotUniform' })).tanh();
    const loss = h.square().mean();
    g.minimize(loss, optim.adam({ lr: 1e-3 }));
    const exe = await compileWith(g, createReferenceBackend());
    await exe.run({ x: new Float32Array(16 * 32).fill(0.1) }, { loss }, { train: true });
    const m = exe.memoryReport();
    expect(m.paramBytes).toBeGreaterThanOrEqual(3 * 4 * 32 * 32 * 4); // weights, first and second moments
    expect(m.plannedBytes).toBeLessThan(m.intermediateBytes);
    expect(m.savedBytes).toBe(m.intermediateBytes - m.plannedBytes);
    expect(m.peakBytes).toBe(m.paramBytes + m.inputBytes + m.plannedBytes);
  });
});

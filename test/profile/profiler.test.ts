// The profiler: one entry per dispatch, FLOP and byte counts, a Chrome trace that parses.
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { compileWith, Graph } from '@kiln/core';
import { describeBackends, orSkip } from '../support/backends';

describeBackends('profiler', (b) => {
  it('reports each kernel with its FLOPs and bytes and exports a Chrome trace', () => orSkip(async () => {
    const [M, K, N] = [64, 48, 32];
    const g = new Graph();
    const a = g.input('a', [M, K]);
    const w = g.input('w', [K, N]);
    const y = a.matmul(w).matmul(g.input('v', [N, 8])).exp();
    const exe = await compileWith(g, await b.make(), { profile: true });
    await exe.run({ a: new Float32Array(M * K), w: new Float32Array(K * N), v: new Float32Array(N * 8) }, { y });
    const report = exe.profileReport();
    if (b.name === 'cpu') expect(report.granularity).toBe('kernel');
    const plan = exe.plan({ y });
    if (report.granularity === 'kernel') {
      expect(report.entries.length).toBe(plan.steps.length);
      // The exp is the second matmul's only reader, so epilogue fusion runs it in that GEMM's
      // store: one kernel 'matmul+exp' whose FLOPs are the GEMM's plus one per output element,
      // and whose bytes are its two operands and one output (the unfused product is never written).
      const mm = report.entries.filter((e) => e.ops.includes('matmul'));
      expect(mm.map((e) => e.flops).sort((p, q) => p - q)).toEqual([2 * M * N * 8 + M * 8, 2 * M * K * N]);
      expect(mm.find((e) => e.flops === 2 * M * K * N)!.bytes).toBe(4 * (M * K + K * N + M * N));
      const ex = report.entries.find((e) => e.ops.includes('exp'))!;
      expect(ex.ops.join('+')).toBe('matmul+exp');
      // WebGPU applies the epilogue in the GEMM's store; the CPU in a second pass that reads and
      // writes the [M, 8] product once more.
      expect(ex.bytes).toBe(4 * (M * N + N * 8 + M * 8) + (b.name === 'cpu' ? 4 * 2 * M * 8 : 0));
    } else {
      expect(report.text).toMatch(/whole submissions/);
    }
    expect(report.entries.every((e) => e.ms >= 0)).toBe(true);
    expect(report.text.split('\n').length).toBe(report.entries.length + 2); // header, kernels, memory
    const path = join(tmpdir(), `kiln-trace-${b.name}-${process.pid}.json`);
    await exe.exportChromeTrace(path);
    const trace = JSON.parse(await readFile(path, 'utf8'));
    expect(trace.traceEvents.length).toBe(report.entries.length);
    for (const ev of trace.traceEvents) {
      expect(ev).toMatchObject({ ph: 'X', pid: 1, tid: 1 });
      expect(typeof ev.name).toBe('string');
      expect(ev.dur).toBeGreaterThanOrEqual(0);
    }
    await exe.dispose();
  }));

  it('timings mean something: every kernel timed, not all zero, a large matmul longer than a tiny copy', () => orSkip(async () => {
    const backend = await b.make();
    // Per-kernel timing is owed wherever the adapter offers timestamp queries (asked of the
    // adapter itself, not of the backend's own flag); the CPU backend always times kernels.
    const adapter = (backend as { adapter?: GPUAdapter }).adapter;
    const perKernel = b.name === 'cpu' || !!adapter?.features.has('timestamp-query');
    const n = 256;
    const g = new Graph();
    const a = g.input('a', [n, n]);
    const w = g.input('w', [n, n]);
    const big = a.matmul(w);
    const tiny = g.input('t', [4]).neg();
    const exe = await compileWith(g, backend);
    try {
      const feeds = { a: Float32Array.from({ length: n * n }, (_, i) => (i % 7) / 7), w: Float32Array.from({ length: n * n }, (_, i) => (i % 5) / 5), t: Float32Array.of(1, 2, 3, 4) };
      await exe.run(feeds, { big, tiny }); // compile and warm up
      const mm: number[] = [], copy: number[] = [];
      for (let i = 0; i < 3; i++) {
        await exe.run(feeds, { big, tiny }, { profile: true });
        const report = exe.profileReport();
        if (!perKernel) {
          expect(report.granularity).toBe('submission');
          expect(report.entries[0]!.ms).toBeGreaterThan(0);
          return;
        }
        expect(report.granularity).toBe('kernel');
        expect(report.entries).toHaveLength(2);
        for (const e of report.entries) expect(Number.isFinite(e.ms)).toBe(true);
        expect(report.entries.some((e) => e.ms > 0)).toBe(true);
        mm.push(report.entries.find((e) => e.ops.includes('matmul'))!.ms);
        copy.push(report.entries.find((e) => e.ops.includes('neg'))!.ms);
      }
      const median = (v: number[]) => [...v].sort((p, q) => p - q)[1]!;
      // 2n^3 = 33.5 MFLOP against 4 elements: relative, so robust to a slow or loaded machine.
      expect(median(mm)).toBeGreaterThan(median(copy));
      expect(median(mm)).toBeGreaterThan(0);
    } finally {
      await exe.dispose();
    }
  }));
});

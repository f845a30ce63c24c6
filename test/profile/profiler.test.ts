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
      const mm = report.entries.filter((e) => e.ops.includes('matmul'));
      expect(mm.map((e) => e.flops).sort((p, q) => p - q)).toEqual([2 * M * N * 8, 2 * M * K * N]);
      expect(mm.find((e) => e.flops === 2 * M * K * N)!.bytes).toBe(4 * (M * K + K * N + M * N));
      const ex = report.entries.find((e) => e.ops.includes('exp'))!;
      expect(ex.bytes).toBe(4 * 2 * M * 8);
      expect(ex.flops).toBeGreaterThanOrEqual(M * 8);
    } else {
      expect(report.text).toMatch(/whole submissions/);
    }
    expect(report.entries.every((e) => e.ms >= 0)).toBe(true);
    expect(report.text.split('\n').length).toBe(report.entries.length + 1);
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
});

// The runtime's side of profiling, on known timings: which runs ask for a profile, the report
// (slowest first, GB/s and GFLOP/s, the header per granularity) and the Chrome trace (events
// end to end in submission order). A wrapping backend attaches fixed entries to each profiled
// run of the reference backend, so every number here is known in advance.
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Backend, compileWith, createReferenceBackend, Graph, GraphError, type ProfileEntry } from '@kiln/core';

const ENTRIES: ProfileEntry[] = [
  { kernel: 'matmul', ops: ['matmul'], shapes: '[4,4] [4,4]', ms: 1, bytes: 2e6, flops: 4e6 },
  { kernel: 'reduce', ops: ['sum', 'exp'], shapes: '[4,4]', ms: 3, bytes: 3e6, flops: 0 },
  { kernel: 'elementwise', ops: ['neg'], shapes: '[4]', ms: 0, bytes: 32, flops: 4 },
];

function profiling(granularity: 'kernel' | 'submission') {
  const inner = createReferenceBackend();
  const asked: boolean[] = [];
  const backend: Backend = {
    ...inner,
    lower: async (plan) => {
      const p = await inner.lower(plan);
      return {
        run: async (feeds, fetch, o) => {
          asked.push(!!o.profile);
          const r = await p.run(feeds, fetch, o);
          return o.profile ? { ...r, profile: ENTRIES, profileGranularity: granularity } : r;
        },
        dispose: () => p.dispose(),
      };
    },
  };
  return { backend, asked };
}

function graph() {
  const g = new Graph();
  const y = g.input('x', [4]).neg();
  return { g, y, feeds: { x: Float32Array.of(1, 2, 3, 4) } };
}

describe('profile report and trace', () => {
  it('asks for a profile per run, or for every run when compiled with { profile: true }', async () => {
    const { g, y, feeds } = graph();
    const a = profiling('kernel');
    const exe = await compileWith(g, a.backend);
    await exe.run(feeds, { y });
    await exe.run(feeds, { y }, { profile: true });
    const always = await compileWith(g, a.backend, { profile: true });
    await always.run(feeds, { y });
    await always.run(feeds, { y }, { profile: false });
    expect(a.asked).toEqual([false, true, true, false]);
  });

  it('before any profiled run, the report and the trace are GraphErrors', async () => {
    const { g, y, feeds } = graph();
    const exe = await compileWith(g, profiling('kernel').backend);
    await exe.run(feeds, { y });
    expect(() => exe.profileReport()).toThrow(GraphError);
    expect(() => exe.profileReport()).toThrow(/no profiled run yet/);
    expect(() => exe.chromeTrace()).toThrow(/no profiled run yet/);
  });

  it('the report lists kernels slowest first with their throughput; a later unprofiled run keeps it', async () => {
    const { g, y, feeds } = graph();
    const exe = await compileWith(g, profiling('kernel').backend);
    await exe.run(feeds, { y }, { profile: true });
    await exe.run(feeds, { y });
    const report = exe.profileReport();
    expect(report.granularity).toBe('kernel');
    expect(report.entries.map((e) => e.kernel)).toEqual(['reduce', 'matmul', 'elementwise']);
    const lines = report.text.split('\n');
    expect(lines[0]).toBe('per-kernel timings');
    expect(lines).toHaveLength(5);
    expect(lines[4]).toMatch(/^device memory: peak \d+ B \(params/);
    expect(lines[1]).toMatch(/^reduce\s+sum\+exp\s+\[4,4\]\s+3\.000 ms\s+1\.00 GB\/s\s+0\.00 GFLOP\/s$/);
    expect(lines[2]).toMatch(/^matmul\s+matmul\s+\[4,4\] \[4,4\]\s+1\.000 ms\s+2\.00 GB\/s\s+4\.00 GFLOP\/s$/);
    expect(lines[3]).toMatch(/^elementwise\s+neg\s+\[4\]\s+0\.000 ms\s+0\.00 GB\/s\s+0\.00 GFLOP\/s$/);
  });

  it('whole-submission timings say so in the report', async () => {
    const { g, y, feeds } = graph();
    const exe = await compileWith(g, profiling('submission').backend);
    await exe.run(feeds, { y }, { profile: true });
    const report = exe.profileReport();
    expect(report.granularity).toBe('submission');
    expect(report.text.split('\n')[0]).toBe('NOTE: the adapter has no timestamp queries; whole submissions were timed');
  });

  it('the Chrome trace lays the kernels end to end in submission order, and exports as JSON', async () => {
    const { g, y, feeds } = graph();
    const exe = await compileWith(g, profiling('kernel').backend);
    await exe.run(feeds, { y }, { profile: true });
    const trace = exe.chromeTrace();
    expect(trace.displayTimeUnit).toBe('ms');
    expect(trace.metadata).toEqual({ backend: 'reference', device: exe.description, granularity: 'kernel' });
    expect(trace.traceEvents).toEqual([
      { name: 'matmul', cat: 'matmul', ph: 'X', ts: 0, dur: 1000, pid: 1, tid: 1, args: { ops: ['matmul'], shapes: '[4,4] [4,4]', bytes: 2e6, flops: 4e6, 'GB/s': 2, 'GFLOP/s': 4 } },
      { name: 'reduce', cat: 'sum+exp', ph: 'X', ts: 1000, dur: 3000, pid: 1, tid: 1, args: { ops: ['sum', 'exp'], shapes: '[4,4]', bytes: 3e6, flops: 0, 'GB/s': 1, 'GFLOP/s': 0 } },
      { name: 'elementwise', cat: 'neg', ph: 'X', ts: 4000, dur: 0, pid: 1, tid: 1, args: { ops: ['neg'], shapes: '[4]', bytes: 32, flops: 4, 'GB/s': 0, 'GFLOP/s': 0 } },
    ]);
    const path = join(tmpdir(), `kiln-report-trace-${process.pid}.json`);
    await exe.exportChromeTrace(path);
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual(trace);
  });
});

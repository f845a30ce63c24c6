// Each bench engine runs in a child process of its own, so that a native crash or a hang costs
// one case (a row saying so) and never the run (issue 10 §3).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, runBench } from '../../bench/harness';

const here = path.dirname(fileURLToPath(import.meta.url));

describe('engines in child processes', () => {
  test('a crash (SIGABRT) and a hang become rows; the engine restarts and the run completes', async () => {
    const lines: string[] = [];
    const { report, markdown } = await runBench({
      ...parseArgs(['--quick', '--backend', 'tfjs-cpu', '--suite', 'kernels', '--sizes', '16']),
      out: null,
      worker: path.join(here, 'fixtures/faulty-worker.ts'),
      hangMs: 15_000,
      log: (l) => lines.push(l),
    });
    expect(report.records.map((r) => r.bench)).toEqual(['matmul', 'elementwiseChain', 'conv2d']);
    expect(report.skipped.map((s) => [s.bench, s.reason])).toEqual([
      ['reduceSum', 'hung: no answer in 15 s, killed'],
      ['softmax', 'crashed: signal SIGABRT'],
    ]);
    expect(markdown).toContain('| reduceSum | 16x16 | hung |');
    expect(markdown).toContain('| softmax | 16x16 | crashed |');
    expect(markdown).toContain('- tfjs-cpu softmax: crashed: signal SIGABRT');
    expect(lines).toContain('tfjs-cpu softmax {"rows":16,"cols":16}: crashed: signal SIGABRT');
    // The child that ran conv2d (the third one) exited cleanly.
    expect(report.header.engines).toEqual([expect.objectContaining({ id: 'tfjs-cpu', available: true })]);
    expect(report.header.engines[0]!.exit).toBeUndefined();
  });

  test('an engine that cannot start is reported unavailable, not a crash of the run', async () => {
    const { report } = await runBench({ ...parseArgs(['--quick', '--backend', 'tfjs-cpu', '--suite', 'kernels', '--sizes', '16', '--bench', 'matmul']), out: null, worker: path.join(here, 'fixtures/no-such-worker.ts') });
    expect(report.records).toEqual([]);
    expect(report.header.engines).toEqual([expect.objectContaining({ id: 'tfjs-cpu', available: expect.stringMatching(/^crashed: exit code 1$/) })]);
  });
});

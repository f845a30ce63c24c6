// Kiln processes end by themselves with exit 0: never by a signal, never a hang (issue 10 §3).
// Dawn used to free its instance under live devices (gpu.ts says how), which ended such
// processes by SIGABRT or SIGSEGV or left them hanging, most often right after a dispose; the
// runs below are the shapes that did, several of them at once.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describeGpu } from './support';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = join(root, 'test/webgpu/fixtures');

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by us after `limitMs`: it hung. */
  hung: boolean;
  stdout: string;
  stderr: string;
  /** When stdout first contained `mark`, if asked. */
  markedAt?: number;
  endedAt: number;
}

/** Run a TypeScript entry point in a fresh Node process (no wrapper that could hide a signal). */
function runScript(script: string, args: string[] = [], o: { limitMs?: number; mark?: string } = {}): Promise<Ended> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '', stderr = '', markedAt: number | undefined, hung = false;
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    if (o.mark && markedAt === undefined && stdout.includes(o.mark)) markedAt = Date.now();
  });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => {
    const killer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, o.limitMs ?? 150_000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, hung, stdout, stderr, endedAt: Date.now(), ...(markedAt !== undefined ? { markedAt } : {}) });
    });
  });
}

/** One line per process that did not end cleanly, with what it said; [] when all did. */
function failures(runs: Ended[]): string[] {
  const noise = (l: string) => l.startsWith('Warning: maxDynamic') || !l.trim();
  return runs.flatMap((r, i) => (r.code === 0 && r.signal === null && !r.hung ? [] : [
    `process ${i}: ${r.hung ? 'hung (killed)' : r.signal ? `signal ${r.signal}` : `exit ${r.code}`}; stderr: ${r.stderr.split('\n').filter((l) => !noise(l)).slice(-8).join(' | ')}`,
  ]));
}

describeGpu('process exit', () => {
  test('a script that disposes its backend exits within a few seconds of disposing', async () => {
    const r = await runScript(join(fixtures, 'exit-after-dispose.ts'), [], { limitMs: 60_000, mark: 'disposed' });
    expect(failures([r])).toEqual([]);
    expect(r.stdout).toMatch(/disposed 1/);
    expect(r.endedAt - r.markedAt!).toBeLessThan(3000);
  });

  test('compile, dispose without running, compile and run again, dispose mid-run: two processes at once, both exit 0', async () => {
    const runs = await Promise.all([0, 1].map(() => runScript(join(fixtures, 'compile-dispose.ts'))));
    expect(failures(runs)).toEqual([]);
    for (const r of runs) expect(r.stdout).toMatch(/^done$/m);
  });

  test('a quick bench run (every Kiln engine in its own process) beside a compile/dispose script: both exit 0, no crashed row', async () => {
    const [bench, other] = await Promise.all([
      runScript(join(root, 'bench/main.ts'), ['--suite', 'kernels', '--bench', 'matmul,softmax', '--sizes', '8', '--quick', '--backend', 'kiln-webgpu,kiln-cpu', '--no-out']),
      runScript(join(fixtures, 'compile-dispose.ts')),
    ]);
    expect(failures([bench!, other!])).toEqual([]);
    expect(bench!.stdout).toMatch(/\| matmul \| 8x8x8 \| [\d.]+ ms/);
    expect(bench!.stdout).toMatch(/\| softmax \| 8x8 \| [\d.]+ ms/);
    expect(bench!.stdout).not.toMatch(/crashed|hung|skipped/);
  });

  test('the MNIST example on webgpu with a tiny --limit exits 0', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'kiln-exit-'));
    try {
      const r = await runScript(join(root, 'examples/mnist/main.ts'), [
        '--backend', 'webgpu', '--limit', '64', '--epochs', '1', '--batch-size', '64', '--test-limit', '100', '--out', join(dir, 'm.safetensors'),
      ]);
      expect(failures([r])).toEqual([]);
      expect(r.stdout).toMatch(/^test accuracy: \d+\.\d\d%$/m);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

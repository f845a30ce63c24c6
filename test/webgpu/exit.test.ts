// Kiln processes end by themselves with exit 0: never by a signal, never a hang (issue 10 §3).
// Dawn used to free its instance under live devices (gpu.ts says how), which ended such
// processes by SIGABRT or SIGSEGV or left them hanging, most often right after a dispose; the
// runs below are the shapes that did, several of them at once.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DeviceLostError, E } from '@kiln/core';
import { createWebGPUBackend, type WebGPUBackend } from '@kiln/webgpu';
import { acquireDevice, getGpu } from '../../packages/webgpu/src/gpu';
import { describeGpu, PlanBuilder, runPlan } from './support';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const fixtures = join(root, 'test/webgpu/fixtures');

interface Ended {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Killed by us after `limitMs`: it hung. */
  hung: boolean;
  stdout: string;
  stderr: string;
}

/** Run a TypeScript entry point in a fresh Node process (no wrapper that could hide a signal). */
function runScript(script: string, args: string[] = [], o: { limitMs?: number } = {}): Promise<Ended> {
  const child = spawn(process.execPath, ['--import', 'tsx', script, ...args], {
    cwd: root, env: { ...process.env, XDG_RUNTIME_DIR: process.env.XDG_RUNTIME_DIR ?? '/tmp' }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '', stderr = '', hung = false;
  child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
  child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
  return new Promise((resolve) => {
    const killer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, o.limitMs ?? 150_000);
    child.on('exit', (code, signal) => {
      clearTimeout(killer);
      resolve({ code, signal, hung, stdout, stderr });
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
  // No wall-clock bound beyond the hang limit: on a loaded machine seconds mean nothing.
  test('a script that disposes its backend exits by itself (nothing keeps Node alive)', async () => {
    const r = await runScript(join(fixtures, 'exit-after-dispose.ts'), [], { limitMs: 60_000 });
    expect(failures([r])).toEqual([]);
    expect(r.stdout).toMatch(/disposed 1/);
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

describeGpu('one GPU object and one device per process (gpu.ts)', () => {
  const doubled = async (b: WebGPUBackend, x: Float32Array): Promise<number[]> => {
    const p = new PlanBuilder();
    const xIn = p.feed('x', [x.length]);
    p.fetch('y', p.elementwise(E.mul(E.arg(0, 'f32'), E.lit(2)), [xIn], [x.length], 'f32'));
    return Array.from((await runPlan(b, p.build(), { x })).y!);
  };
  /** Whether the device's `lost` promise has settled (a destroyed device's has). */
  const isLost = async (d: GPUDevice): Promise<boolean> => Promise.race([d.lost.then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 50))]);

  test('backends share the device; dispose frees buffers, never the device or the GPU object', async () => {
    const gpu = await getGpu();
    const a = await createWebGPUBackend();
    await expect(doubled(a, Float32Array.of(1, 2))).resolves.toEqual([2, 4]);
    await a.dispose();
    const b = await createWebGPUBackend();
    try {
      expect(b.device).toBe(a.device);
      expect(await getGpu()).toBe(gpu);
      expect(await isLost(b.device)).toBe(false);
      await expect(doubled(b, Float32Array.of(3))).resolves.toEqual([6]);
      expect(a.stats.allocatedBytes).toBe(0);
    } finally {
      await b.dispose();
    }
  });

  test('disposing one backend while another has a run in flight on the shared device', async () => {
    const a = await createWebGPUBackend();
    const b = await createWebGPUBackend();
    try {
      await doubled(a, Float32Array.of(0)); // compiled once, so the next run is quick to submit
      const x = Float32Array.from({ length: 4096 }, (_, i) => i);
      const pending = doubled(a, x);
      await b.dispose();
      expect((await pending)[4095]).toBe(8190);
    } finally {
      await a.dispose();
    }
  });

  test('a lost device is replaced by a fresh one for the next backend; the lost one poisons its users', async () => {
    const first = await acquireDevice({});
    const a = await createWebGPUBackend();
    expect(a.device).toBe(first.device);
    first.device.destroy(); // a loss from outside (driver reset, someone else's destroy)
    await first.device.lost;
    await expect(doubled(a, Float32Array.of(1))).rejects.toThrow(DeviceLostError);
    await a.dispose();
    const b = await createWebGPUBackend();
    try {
      expect(b.device).not.toBe(first.device);
      await expect(doubled(b, Float32Array.of(5))).resolves.toEqual([10]);
    } finally {
      await b.dispose();
    }
  });
});

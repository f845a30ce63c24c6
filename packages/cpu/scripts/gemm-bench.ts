/**
 * The CPU backend's GEMM formulations side by side, interleaved so machine load hits them alike:
 * the WebAssembly SIMD GEMM on 1 thread and on every core, and the JavaScript 4x4 tiles (the
 * no-SIMD path). Prints GFLOP/s (median and best of the reps) with the load average beside it,
 * and GFLOP per CPU-second (process.cpuUsage, every thread of the process): on a machine other
 * jobs load, wall time says what a call took and CPU time what the kernel itself costs.
 *
 *   pnpm exec tsx packages/cpu/scripts/gemm-bench.ts [--shapes 512,1024,128x784x256] [--reps 7] [--js]
 */
import os from 'node:os';
import { createGemmEngine, type GemmEngine } from '../src/gemm';

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : dflt;
};
const shapes = arg('shapes', '512,1024,4096x256x64,128x784x256').split(',').map((s) => {
  const d = s.split('x').map(Number);
  return (d.length === 1 ? [d[0], d[0], d[0]] : d) as [number, number, number];
});
const reps = Number(arg('reps', '7'));
const cores = os.availableParallelism();

function rand(n: number, seed: number): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) { seed = (Math.imul(seed, 1103515245) + 12345) >>> 0; a[i] = seed / 2 ** 32 - 0.5; }
  return a;
}

const engines: [string, GemmEngine][] = [
  ['wasm x1', createGemmEngine('wasm', { threads: 1 })],
  [`wasm x${cores}`, createGemmEngine('wasm', { threads: cores })],
];
if (process.argv.includes('--js')) engines.push(['js tiles', createGemmEngine('js')]);

console.log(`load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')} on ${cores} cores, node ${process.version}`);
for (const [M, K, N] of shapes) {
  const a = rand(M * K, 1), b = rand(K * N, 2), c = new Float32Array(M * N);
  const calls = engines.map(([, e]) => e.prepare(M, K, N));
  const times = calls.map(() => [] as number[]);
  const cpu = calls.map(() => [] as number[]);
  for (const call of calls) call.run(a, 0, b, 0, c, 0, false); // warm
  for (let r = 0; r < reps; r++) {
    calls.forEach((call, i) => {
      const u0 = process.cpuUsage(), t0 = performance.now();
      call.run(a, 0, b, 0, c, 0, false);
      times[i]!.push(performance.now() - t0);
      const u = process.cpuUsage(u0);
      cpu[i]!.push((u.user + u.system) / 1000);
    });
  }
  const gf = (ms: number) => ((2 * M * K * N) / ms / 1e6).toFixed(1);
  for (const [i, [name]] of engines.entries()) {
    const t = times[i]!.sort((x, y) => x - y), u = cpu[i]!.sort((x, y) => x - y);
    console.log(`${M}x${K}x${N} ${name.padEnd(9)} median ${t[t.length >> 1]!.toFixed(2)} ms = ${gf(t[t.length >> 1]!)} GFLOP/s, best ${gf(t[0]!)}; per CPU-second ${gf(u[u.length >> 1]!)} (${calls[i]!.lastPath()})`);
  }
}
console.log(`load average ${os.loadavg().map((v) => v.toFixed(1)).join(' ')}`);
for (const [, e] of engines) e.dispose();

/**
 * Time the WebGPU backend's matmul (square, f32) and report GFLOP/s: the median and best of
 * several runs, each run one submission and one wait, as Executable.run does.
 *
 *   XDG_RUNTIME_DIR=/tmp pnpm exec tsx packages/webgpu/scripts/matmul-timing.ts [sizes] [options]
 *     sizes                 comma-separated, default 256,512,1024
 *     --runs N              timed runs per size (default 9, after one warm-up)
 *     --gemm tiled|subgroup force a GEMM family (default: the backend's choice)
 *     --tiles '{"rows":24,"vec4s":2,"wg":64,"a4":true}'   override the subgroup block
 *     --fetch               read C back in every run (default: compute only, wait for the queue)
 *     --kernel              also report the kernel time from timestamp queries
 *
 * Shapes are uniforms, so the first run of a configuration includes compiling its pipeline
 * (reported separately as "first run"). "cpu" is GFLOP per second of CPU time the whole process
 * used (lavapipe's threads included): it hardly moves when other processes load the machine,
 * so compare configurations with it; wall-clock figures are what users see.
 */
import type { Plan, Program } from '@kiln/core';
import { createWebGPUBackend, type WebGPUBackendOptions } from '../src/index';

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(`--${name}`);
const opt = (name: string) => { const i = args.indexOf(`--${name}`); return i >= 0 ? args[i + 1] : undefined; };
const sizes = (args[0] && !args[0].startsWith('--') ? args[0] : '256,512,1024').split(',').map(Number);
const runs = Number(opt('runs') ?? 9);
const options: WebGPUBackendOptions = {};
if (opt('gemm')) options.gemm = opt('gemm') as 'tiled' | 'subgroup';
if (opt('tiles')) options.gemmTiles = JSON.parse(opt('tiles')!);

function matmulPlan(n: number): Plan {
  const f32 = 'f32' as const;
  return {
    buffers: new Map([
      [0, { id: 0, dtype: f32, size: n * n, kind: 'feed' as const, name: 'a' }],
      [1, { id: 1, dtype: f32, size: n * n, kind: 'feed' as const, name: 'b' }],
      [2, { id: 2, dtype: f32, size: n * n, kind: 'temp' as const, slot: 0 }],
    ]),
    steps: [{ kind: 'op', op: 'matmul', attrs: { transposeA: false, transposeB: false }, inputs: [{ buf: 0, shape: [n, n], dtype: f32 }, { buf: 1, shape: [n, n], dtype: f32 }], out: { buf: 2, shape: [n, n], dtype: f32 }, ops: ['matmul'] }],
    slots: [4 * n * n],
    feeds: [{ buf: 0, name: 'a' }, { buf: 1, name: 'b' }],
    fetches: [{ key: 'c', operand: { buf: 2, shape: [n, n], dtype: f32 } }],
    usesStep: false,
  };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

const backend = await createWebGPUBackend(options);
console.log(backend.description);
console.log(`gemm ${backend.traits.gemm}${backend.traits.gemmTiles ? ` tiles ${JSON.stringify(backend.traits.gemmTiles)}` : ''}, ${flag('fetch') ? 'fetching C' : 'compute only'}, ${runs} runs`);
for (const n of sizes) {
  const a = Float32Array.from({ length: n * n }, (_, i) => ((i * 7919) % 1000) / 1000 - 0.5);
  const b = Float32Array.from({ length: n * n }, (_, i) => ((i * 104729) % 1000) / 1000 - 0.5);
  const program: Program = await backend.lower(matmulPlan(n));
  const feeds = new Map([[0, a], [1, b]]);
  const fetch = flag('fetch') ? [2] : [];
  let t = performance.now();
  const first = await program.run(feeds, [2], { step: 0 });
  const firstMs = performance.now() - t;
  // spot-check a few entries against float64
  let err = 0;
  const c = first.outputs.get(2)!;
  for (let s = 0; s < 16; s++) {
    const i = (s * 37) % n, j = (s * 101) % n;
    let acc = 0;
    for (let k = 0; k < n; k++) acc += a[i * n + k]! * b[k * n + j]!;
    err = Math.max(err, Math.abs(acc - c[i * n + j]!));
  }
  const wall: number[] = [], kernel: number[] = [], cpu: number[] = [];
  for (let r = 0; r < runs; r++) {
    const c0 = process.cpuUsage();
    t = performance.now();
    const res = await program.run(feeds, fetch, { step: 0, profile: flag('kernel') });
    wall.push(performance.now() - t);
    const c1 = process.cpuUsage(c0);
    cpu.push((c1.user + c1.system) / 1000);
    if (res.profile) kernel.push(res.profile[0]!.ms);
  }
  const gf = (ms: number) => (2 * n ** 3) / ms / 1e6;
  console.log(`n=${String(n).padStart(4)}  median ${gf(median(wall)).toFixed(2).padStart(6)} GFLOP/s  best ${gf(Math.min(...wall)).toFixed(2).padStart(6)}  (${median(wall).toFixed(1)} ms)` +
    (kernel.length ? `  kernel median ${gf(median(kernel)).toFixed(2)} GFLOP/s` : '') + `  cpu ${gf(median(cpu)).toFixed(2)} GFLOP/cpu-s  first run ${firstMs.toFixed(0)} ms  max|err| ${err.toExponential(1)}`);
  program.dispose();
}
await backend.dispose();

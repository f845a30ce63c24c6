/**
 * How an LSTM's compile time and training step grow with the number of time steps T.
 *
 *   tsx scripts/lstm-scaling.ts                         # 2-layer LSTM, hidden 256, batch 32, cpu
 *   tsx scripts/lstm-scaling.ts --T 32,64 --batch 8 --backend webgpu --steps 3
 *
 * For each T it builds the model (input [batch, T, hidden], the LSTM, a dense head, mean
 * squared error, Adam), then times: building the graph with its gradients (`build`), the compiler
 * passes to a Plan (`plan`), the backend lowering the Plan (`lower`: kernel generation, pipelines,
 * buffers), their sum (`compile`), the first training step of an Executable (`first step`: it
 * plans and lowers again, then runs, so it is what a user waits for before training starts;
 * pipelines and generated JavaScript are cached by then), and the median of `--steps` further
 * steps (`step`); `--compile-only` skips the runs. Each time is wall / CPU ms (CPU time of this
 * process, all threads: less noisy than wall time on a shared machine). A row also has graph
 * nodes, plan steps and the JavaScript kernels the CPU backend compiled new for that T.
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { type Backend, buildPlan, compileWith, Graph, nn, optim } from 'kiln';
import { compiledKernelSources, createCpuBackend } from '@kiln/cpu';
import { createWebGPUBackend } from '@kiln/webgpu';

const { values } = parseArgs({
  options: {
    T: { type: 'string', default: '32,64,128,256' },
    batch: { type: 'string', default: '32' },
    hidden: { type: 'string', default: '256' },
    layers: { type: 'string', default: '2' },
    steps: { type: 'string', default: '3' },
    backend: { type: 'string', default: 'cpu' },
    'compile-only': { type: 'boolean', default: false },
  },
});
const Ts = values.T.split(',').map(Number);
const batch = Number(values.batch), hidden = Number(values.hidden), layers = Number(values.layers), steps = Number(values.steps);

function model(T: number) {
  const g = new Graph({ seed: 1 });
  const x = g.input('x', [batch, T, hidden]);
  const y = g.input('y', [batch, hidden]);
  const h = nn.lstm(x, hidden, { numLayers: layers, returnSequences: false });
  const loss = nn.dense(h, hidden).sub(y).square().mean();
  g.minimize(loss, optim.adam({ lr: 1e-3 }));
  return { g, loss };
}

/** Wall and CPU time (this process, all threads: less noisy than wall time on a shared machine) of `f`. */
async function timed<R>(f: () => R | Promise<R>): Promise<{ r: R; wall: number; cpu: number }> {
  const t0 = performance.now(), c0 = process.cpuUsage();
  const r = await f();
  const c = process.cpuUsage(c0);
  return { r, wall: performance.now() - t0, cpu: (c.user + c.system) / 1000 };
}
const median = (a: number[]) => [...a].sort((p, q) => p - q)[a.length >> 1]!;
const f0 = (v: number) => v.toFixed(0);
const pair = (t: { wall: number; cpu: number }) => `${f0(t.wall)} / ${f0(t.cpu)}`;
const load = () => loadavg().map((l) => l.toFixed(1)).join(' ');

async function backendFor(): Promise<Backend> {
  return values.backend === 'webgpu' ? createWebGPUBackend() : createCpuBackend();
}

console.log(`LSTM ${layers} layers, hidden ${hidden}, batch ${batch}, backend ${values.backend}, load ${load()}; times in ms, wall / CPU`);
console.log('| T | graph nodes | plan steps | new JS kernels | build | plan | lower | compile (sum) | first step | step |');
console.log('|---|---|---|---|---|---|---|---|---|---|');
for (const T of Ts) {
  const build = await timed(() => model(T));
  const { g, loss } = build.r;
  const plan = await timed(() => buildPlan(g, [{ key: 'loss', id: loss.id }], true, new Map()));
  const backend = await backendFor();
  const before = compiledKernelSources();
  const lower = await timed(() => backend.lower(plan.r));
  const generated = values.backend === 'cpu' ? String(compiledKernelSources() - before) : '-';
  lower.r.dispose();
  const compileSum = { wall: build.wall + plan.wall + lower.wall, cpu: build.cpu + plan.cpu + lower.cpu };
  let first = '-', step = '-';
  if (!values['compile-only']) {
    const exe = await compileWith(g, backend, { ownsBackend: true });
    const feeds = { x: new Float32Array(batch * T * hidden).fill(0.1), y: new Float32Array(batch * hidden) };
    // The first run plans and lowers again inside the Executable, then runs.
    first = pair(await timed(() => exe.run(feeds, { loss }, { train: true })));
    const walls: number[] = [], cpus: number[] = [];
    for (let s = 0; s < steps; s++) {
      const t = await timed(() => exe.run(feeds, { loss }, { train: true }));
      walls.push(t.wall);
      cpus.push(t.cpu);
    }
    step = steps > 0 ? pair({ wall: median(walls), cpu: median(cpus) }) : '-';
    await exe.dispose();
  } else await backend.dispose();
  console.log(`| ${T} | ${g.nodes.length} | ${plan.r.steps.length} | ${generated} | ${pair(build)} | ${pair(plan)} | ${pair(lower)} | ${pair(compileSum)} | ${first} | ${step} |`);
}
console.log(`load after: ${load()}`);

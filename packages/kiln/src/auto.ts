/**
 * The measured part of `compile(g, { backend: 'auto' })`: on a software WebGPU adapter
 * (lavapipe/llvmpipe, SwiftShader, or any adapter that says `isFallbackAdapter`) the CPU
 * backend can be faster, and which one wins depends on the graph (a few large matmuls favour
 * lavapipe's LLVM kernels, many small kernels its per-dispatch cost). So 'auto' times one run
 * of the graph at hand on each backend and keeps the faster one; a hardware adapter is taken
 * without measuring.
 *
 * The run it times: a training step when the graph has updates (the optimizer's step, which
 * is what `fit` repeats), else the forward pass to every sink; feeds are zeros, symbolic dims
 * bound to {@link AUTO_PROBE_DIM}. Each backend runs once untimed (first-run compilation),
 * then once or twice timed (the best counts; a second run only when the first is within 2x
 * of the other backend). The probe's params are its own: the Executable the user gets starts
 * fresh.
 */
import { arrayFor, type Backend, type CompileOptions, compileWith, type FeedValue, type Graph, type Tensor, TRAINING_INPUT } from '@kiln/core';

/** The size each symbolic dim (`'batch'`) gets while 'auto' measures. */
export const AUTO_PROBE_DIM = 64;

/**
 * Why an adapter is a software one, from the one-line description the WebGPU probe gives
 * (`webgpu: mesa / software / llvmpipe-... (fallback adapter)`), or null for a hardware GPU.
 *
 * @example
 *   softwareAdapter('webgpu: nvidia / hopper / NVIDIA H200');            // null
 *   softwareAdapter('webgpu: mesa / software / llvmpipe (fallback adapter)'); // 'llvmpipe, a fallback adapter'
 */
export function softwareAdapter(description: string): string | null {
  const names = [...new Set((description.match(/llvmpipe|lavapipe|swiftshader|warp/gi) ?? []).map((s) => s.toLowerCase()))];
  const fallback = /\(fallback adapter\)/.test(description);
  if (!names.length && !fallback) return null;
  return [...names, ...(fallback ? ['a fallback adapter'] : [])].join(', ');
}

/** The best timed run of the graph on each backend, in ms. */
export interface BackendTimings {
  readonly webgpuMs: number;
  readonly cpuMs: number;
}

/**
 * The faster backend for measured timings, and the one stderr line saying why. WebGPU keeps
 * ties (its runs overlap the host; the CPU backend's do not).
 *
 * @example
 *   pickFaster('llvmpipe', { webgpuMs: 30, cpuMs: 12 }, 'one training step');
 *   // { backend: 'cpu', line: 'kiln: auto picked cpu: one training step of this graph took 12.0 ms on cpu vs 30.0 ms on webgpu (2.5x); ...' }
 */
export function pickFaster(why: string, t: BackendTimings, what = 'one run'): { backend: 'webgpu' | 'cpu'; line: string } {
  const backend = t.cpuMs < t.webgpuMs ? 'cpu' : 'webgpu';
  const [fast, slow] = backend === 'cpu' ? [t.cpuMs, t.webgpuMs] : [t.webgpuMs, t.cpuMs];
  const other = backend === 'cpu' ? 'webgpu' : 'cpu';
  const ms = (t: number): string => (Number.isFinite(t) ? `${t.toFixed(1)} ms` : 'no result');
  const ratio = fast > 0 && Number.isFinite(slow / fast) ? ` (${(slow / fast).toFixed(1)}x)` : '';
  return {
    backend,
    line: `kiln: auto picked ${backend}: ${what} of this graph took ${ms(fast)} on ${backend} vs ${ms(slow)} on ${other}${ratio}; the WebGPU adapter is software (${why}). Set KILN_BACKEND=webgpu|cpu to skip the measurement.`,
  };
}

/**
 * What one probe run of a graph computes: its training step, or its forward pass to every
 * sink (no fetches at all for a graph with nothing computed yet).
 */
export function probeRun(g: Graph): { train: boolean; fetches: Record<string, Tensor>; what: string } {
  if (g.updates.length > 0) return { train: true, fetches: {}, what: 'one training step' };
  const read = new Set<number>();
  for (const n of g.nodes) for (const i of n.inputs) read.add(i);
  const fetches: Record<string, Tensor> = {};
  for (const n of g.nodes) {
    if (read.has(n.id) || n.op === 'input' || n.op === 'param' || n.op === 'constant') continue;
    fetches[`#${n.id}`] = g.tensor(n.id);
  }
  return { train: false, fetches, what: 'one forward pass' };
}

/** Zero feeds for every input of `g`, symbolic dims bound to {@link AUTO_PROBE_DIM}. */
export function zeroFeeds(g: Graph): Record<string, FeedValue> {
  const feeds: Record<string, FeedValue> = {};
  for (const [name, id] of g.inputs) {
    if (name === TRAINING_INPUT) continue;
    const n = g.nodes[id]!;
    const shape = n.shape.map((d) => (typeof d === 'number' ? d : AUTO_PROBE_DIM));
    feeds[name] = { data: arrayFor(n.dtype, shape.reduce((a, d) => a * d, 1)), shape };
  }
  return feeds;
}

export interface ProbeOptions {
  /** Clock for the timed runs, in ms (default performance.now); tests pass a fake one. */
  now?: () => number;
  /** The options the graph is compiled with (fusion, storage-buffer limit). */
  compile?: CompileOptions;
}

/**
 * Time the probe run of `g` on a backend: one untimed run, then `timed` runs; the best one
 * counts. The Executable is disposed (its params with it); the backend is left as it was.
 */
export async function timeProbe(g: Graph, backend: Backend, timed: (best: number) => boolean, options: ProbeOptions = {}): Promise<number> {
  const now = options.now ?? (() => performance.now());
  const exe = await compileWith(g, backend, { ...options.compile, profile: false, ownsBackend: false });
  try {
    const { train, fetches } = probeRun(g);
    const feeds = zeroFeeds(g);
    await exe.run(feeds, fetches, { train });
    let best = Infinity;
    do {
      const t0 = now();
      await exe.run(feeds, fetches, { train });
      best = Math.min(best, now() - t0);
    } while (timed(best));
    return best;
  } finally {
    await exe.dispose();
  }
}

/** A probe that fails on a backend (an op it lacks, memory) counts as infinitely slow there. */
async function orInfinity(probe: Promise<number>, failures: string[], name: string): Promise<number> {
  try {
    return await probe;
  } catch (e) {
    failures.push(`${name} failed: ${(e as Error).message.split('\n')[0]}`);
    return Infinity;
  }
}

/**
 * Measure `g` on both backends and pick the faster (see the module comment). Returns the
 * chosen backend and the one line to print (null when the graph computes nothing yet, and
 * WebGPU is kept untimed); the other backend is disposed.
 */
export async function measureBackends(g: Graph, why: string, backends: { webgpu: Backend; cpu: Backend }, options: ProbeOptions = {}): Promise<{ backend: Backend; line: string | null }> {
  const probe = probeRun(g);
  if (!probe.train && Object.keys(probe.fetches).length === 0) {
    await backends.cpu.dispose();
    return { backend: backends.webgpu, line: null };
  }
  const failures: string[] = [];
  let runs = 0;
  const webgpuMs = await orInfinity(timeProbe(g, backends.webgpu, () => ++runs < 2, options), failures, 'webgpu');
  runs = 0;
  const cpuMs = await orInfinity(timeProbe(g, backends.cpu, (best) => ++runs < 2 && best < 2 * webgpuMs, options), failures, 'cpu');
  const pick = pickFaster(why, { webgpuMs, cpuMs }, probe.what);
  const [keep, drop] = pick.backend === 'cpu' ? [backends.cpu, backends.webgpu] : [backends.webgpu, backends.cpu];
  await drop.dispose();
  return { backend: keep, line: failures.length ? `${pick.line} (${failures.join('; ')})` : pick.line };
}

// compile(g, { backend: 'auto' }) on a software WebGPU adapter (issue 16, item 3): the graph
// is timed on both backends and the faster kept. Timings here are injected (a fake clock), and
// both "backends" are reference backends, so every decision is known in advance.
import { type Backend, createReferenceBackend, Graph } from '@kiln/core';
import { optim } from '@kiln/nn';
import { AUTO_PROBE_DIM, measureBackends, pickFaster, probeRun, softwareAdapter, zeroFeeds } from '../../packages/kiln/src/auto';

/** A clock that advances by the next duration on every second call (start, end of each timed run). */
function fakeClock(durations: number[]): () => number {
  let t = 0;
  let calls = 0;
  return () => {
    if (calls++ % 2 === 1) t += durations.shift() ?? 0;
    return t;
  };
}

function tracked(): Backend & { disposed: boolean } {
  const b = createReferenceBackend();
  const out = { ...b, disposed: false, dispose: async () => { out.disposed = true; await b.dispose(); } };
  return out;
}

function mlp(): { g: Graph } {
  const g = new Graph({ seed: 1 });
  const x = g.input('x', ['batch', 8]);
  const y = g.input('y', ['batch'], 'i32');
  const w = g.param('w', [8, 3], { init: 'glorotUniform' });
  const loss = x.matmul(w).softmaxCrossEntropy(y).mean();
  g.minimize(loss, optim.sgd({ lr: 0.1 }));
  return { g };
}

describe("backend 'auto' on a software adapter", () => {
  test.each([
    ['webgpu: nvidia / hopper / NVIDIA H200', null],
    ['webgpu: mesa / software / llvmpipe-llvm-15-0-6-256-bits- / llvmpipe: Mesa 25.0.7 (fallback adapter)', 'llvmpipe, a fallback adapter'],
    ['webgpu: Google / swiftshader / SwiftShader Device (Subzero)', 'swiftshader'],
    ['webgpu: intel / gen-12lp (fallback adapter)', 'a fallback adapter'],
  ])('softwareAdapter(%s) is %s', (description, expected) => {
    expect(softwareAdapter(description)).toBe(expected);
  });

  test('the faster backend wins, WebGPU keeps ties, and the line says both timings', () => {
    expect(pickFaster('llvmpipe', { webgpuMs: 30, cpuMs: 12 }, 'one training step')).toEqual({
      backend: 'cpu',
      line: 'kiln: auto picked cpu: one training step of this graph took 12.0 ms on cpu vs 30.0 ms on webgpu (2.5x); the WebGPU adapter is software (llvmpipe). Set KILN_BACKEND=webgpu|cpu to skip the measurement.',
    });
    expect(pickFaster('llvmpipe', { webgpuMs: 8, cpuMs: 20 }).backend).toBe('webgpu');
    expect(pickFaster('llvmpipe', { webgpuMs: 5, cpuMs: 5 }).backend).toBe('webgpu');
    expect(pickFaster('llvmpipe', { webgpuMs: Infinity, cpuMs: 5 }).line).toContain('5.0 ms on cpu vs no result on webgpu;');
  });

  test('the probe is a training step with zero feeds, symbolic dims bound to AUTO_PROBE_DIM', () => {
    const { g } = mlp();
    expect(probeRun(g)).toMatchObject({ train: true, fetches: {}, what: 'one training step' });
    const feeds = zeroFeeds(g) as unknown as Record<string, { data: Float32Array | Int32Array; shape: number[] }>;
    expect(feeds.x!.shape).toEqual([AUTO_PROBE_DIM, 8]);
    expect(feeds.y!.data).toBeInstanceOf(Int32Array);
    expect([...feeds.x!.data].every((v) => v === 0)).toBe(true);
    const f = new Graph();
    const s = f.input('a', [3]).exp().sum();
    expect(Object.values(probeRun(f).fetches).map((t) => t.id)).toEqual([s.id]);
    expect(probeRun(f).train).toBe(false);
  });

  test('keeps the CPU when it is faster and disposes WebGPU', async () => {
    const { g } = mlp();
    const webgpu = tracked();
    const cpu = tracked();
    // timed runs: webgpu 30, 28; cpu 12, 14 (a second CPU run: 12 < 2 x 28)
    const { backend, line } = await measureBackends(g, 'llvmpipe', { webgpu, cpu }, { now: fakeClock([30, 28, 12, 14]) });
    expect(backend).toBe(cpu);
    expect(webgpu.disposed).toBe(true);
    expect(cpu.disposed).toBe(false);
    expect(line).toMatch(/^kiln: auto picked cpu: one training step of this graph took 12\.0 ms on cpu vs 28\.0 ms on webgpu \(2\.3x\)/);
  });

  test('one CPU run is enough when it is over twice as slow; WebGPU is kept', async () => {
    const { g } = mlp();
    const webgpu = tracked();
    const cpu = tracked();
    const durations = [10, 9, 40, 1];
    const { backend, line } = await measureBackends(g, 'lavapipe', { webgpu, cpu }, { now: fakeClock(durations) });
    expect(backend).toBe(webgpu);
    expect(cpu.disposed).toBe(true);
    expect(durations).toEqual([1]); // the second CPU run never happened
    expect(line).toContain('9.0 ms on webgpu vs 40.0 ms on cpu (4.4x)');
  });

  test('a graph that computes nothing yet keeps WebGPU without timing or a line', async () => {
    const webgpu = tracked();
    const cpu = tracked();
    expect(await measureBackends(new Graph(), 'llvmpipe', { webgpu, cpu }, { now: fakeClock([]) })).toEqual({ backend: webgpu, line: null });
    expect(cpu.disposed).toBe(true);
  });

  test('a backend whose probe fails counts as slowest and the line says why', async () => {
    const { g } = mlp();
    const webgpu = { ...tracked(), lower: async () => { throw new Error('no kernel for matmul'); } };
    const cpu = tracked();
    const { backend, line } = await measureBackends(g, 'llvmpipe', { webgpu, cpu }, { now: fakeClock([3, 3]) });
    expect(backend).toBe(cpu);
    expect(line).toContain('(webgpu failed: no kernel for matmul)');
  });
});

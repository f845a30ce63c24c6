// The device's binding limit on the WebGPU path, and compile errors that belong to the kernel
// that caused them. lavapipe allows 16 storage buffers per shader stage; the backend option
// maxStorageBuffersPerShaderStage caps it to test here what WebGPU guarantees (8) and what
// Chromium's SwiftShader offers (10). Also: the pipeline cache every backend on a device shares.
import { compileWith, E, evaluate, Graph, KernelCompileError, OptionsError, type Tensor } from '@kiln/core';
import { createWebGPUBackend } from '@kiln/webgpu';
import { spiedWebGPUBackend } from './device-spy';
import { describeGpu, PlanBuilder, rand, useBackend } from './support';

/** A chain reading 12 inputs, and feeds for it. */
function chain12() {
  const g = new Graph();
  const xs = Array.from({ length: 12 }, (_, i) => g.input(`x${i}`, [3, 8]));
  const y = xs.slice(1).reduce((s, x, i) => (i % 3 === 2 ? s.mul(x.add(1)) : s.add(x.mul(2))), xs[0]!);
  const feeds = Object.fromEntries(xs.map((_, i) => [`x${i}`, rand(24, i + 1)]));
  return { g, y, feeds };
}

describeGpu('webgpu: kernels within the storage-buffer limit', () => {
  for (const cap of [8, 10]) {
    it(`capped at ${cap}: the backend reports the cap, every fused kernel fits it, values match`, async () => {
      const backend = await createWebGPUBackend({ maxStorageBuffersPerShaderStage: cap });
      try {
        expect(backend.limits.maxStorageBuffersPerShaderStage).toBe(Math.min(cap, backend.device.limits.maxStorageBuffersPerShaderStage));
        const { g, y, feeds } = chain12();
        const exe = await compileWith(g, backend);
        const kernels = exe.plan({ y }).steps.filter((s) => s.kind === 'elementwise');
        expect(kernels.length).toBeGreaterThan(1);
        for (const k of kernels) expect(k.inputs.length + 1).toBeLessThanOrEqual(cap);
        const got = (await exe.run(feeds, { y })).y.data;
        const want = evaluate(g, feeds, { y }).y.data;
        for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 3);
        await exe.dispose();
      } finally {
        await backend.dispose();
      }
    });
  }

  it('a kernel binding more storage buffers than the cap is a KernelCompileError naming the limit', async () => {
    const backend = await createWebGPUBackend({ maxStorageBuffersPerShaderStage: 8 });
    try {
      const p = new PlanBuilder();
      const xs = Array.from({ length: 9 }, (_, i) => p.feed(`x${i}`, [4]));
      const expr = xs.slice(1).reduce((s, _, i) => E.add(s, E.arg(i + 1, 'f32')), E.arg(0, 'f32'));
      p.fetch('y', p.elementwise(expr, xs, [4], 'f32'));
      const err = await backend.lower(p.build()).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KernelCompileError);
      expect((err as Error).message).toMatch(/binds 10 storage buffers, more than maxStorageBuffersPerShaderStage \(8\)/);
    } finally {
      await backend.dispose();
    }
  });

  it('a cap below what a where kernel needs is an OptionsError', async () => {
    await expect(createWebGPUBackend({ maxStorageBuffersPerShaderStage: 3 })).rejects.toThrow(OptionsError);
  });
});

describeGpu('webgpu: a failed compile belongs to its kernel', () => {
  const backend = useBackend();

  /** y = d/dx sum(x * w) + x: an unrelated graph, with a known answer (w + x). */
  async function unrelated(): Promise<void> {
    const g = new Graph();
    const x = g.input('x', [5]);
    const w = g.input('w', [5]);
    const [dx] = g.grad(x.mul(w).sum(), [x]) as [Tensor];
    const y = dx.add(x);
    const exe = await compileWith(g, backend());
    const feeds = { x: rand(5, 7), w: rand(5, 8) };
    const got = (await exe.run(feeds, { y })).y.data;
    for (let i = 0; i < 5; i++) expect(got[i]).toBeCloseTo(feeds.w[i]! + feeds.x[i]!, 5);
    await exe.dispose();
  }

  it('an invalid bind group layout and an invalid shader fail with their own errors while an unrelated graph compiles and runs', async () => {
    const tooMany = Array.from({ length: backend().device.limits.maxStorageBuffersPerShaderStage + 1 }, () => 'read' as const);
    const badWgsl = '@group(0) @binding(0) var<storage, read_write> y: array<f32>;\n@compute @workgroup_size(1) fn main() {\n  y[0] = no_such_value;\n}';
    const { layout } = await backend().layoutFor(['read_write'], 'probe', 'probe');
    const [layoutErr, shaderErr] = await Promise.all([
      backend().layoutFor(tooMany, 'too-wide kernel', 'wideOp').catch((e: unknown) => e),
      backend().pipeline(badWgsl, 'bad kernel', layout, 'badOp').catch((e: unknown) => e),
      unrelated(),
    ]);
    expect(layoutErr).toBeInstanceOf(KernelCompileError);
    expect((layoutErr as KernelCompileError).op).toBe('wideOp');
    expect((layoutErr as Error).message).toMatch(/too-wide kernel/);
    expect(shaderErr).toBeInstanceOf(KernelCompileError);
    expect((shaderErr as KernelCompileError).op).toBe('badOp');
    expect((shaderErr as Error).message).toMatch(/no_such_value/);
    expect((shaderErr as Error).message).not.toMatch(/too-wide|bind group layout/);
    // Nothing leaked into the next compile, and the backend is not poisoned.
    await unrelated();
    expect(() => backend().ensureUsable()).not.toThrow();
  });

  it('after a graph whose kernel exceeds the device limit fails, the next graph compiles and runs', async () => {
    const p = new PlanBuilder();
    const n = backend().device.limits.maxStorageBuffersPerShaderStage;
    const xs = Array.from({ length: n }, (_, i) => p.feed(`x${i}`, [4]));
    const expr = xs.slice(1).reduce((s, _, i) => E.add(s, E.arg(i + 1, 'f32')), E.arg(0, 'f32'));
    p.fetch('y', p.elementwise(expr, xs, [4], 'f32'));
    await expect(backend().lower(p.build())).rejects.toThrow(KernelCompileError);
    await unrelated();
  });
});

describeGpu('webgpu: pipelines shared by every backend on a device', () => {
  it('a second Executable of the same graph, on a second backend of the device, creates no pipeline', async () => {
    const { backend: first } = await spiedWebGPUBackend();
    const second = await createWebGPUBackend({ adapter: first.adapter });
    try {
      expect(second.device).toBe(first.device);
      let created = 0;
      const device = first.device;
      const create = device.createComputePipelineAsync.bind(device);
      device.createComputePipelineAsync = (d: GPUComputePipelineDescriptor) => { created++; return create(d); };
      const { g, y, feeds } = chain12();
      const want = evaluate(g, feeds, { y }).y.data;
      for (const [backend, expected] of [[first, (n: number) => n > 0], [second, (n: number) => n === 0]] as const) {
        const before = created;
        const exe = await compileWith(g, backend);
        const got = (await exe.run(feeds, { y })).y.data;
        for (let i = 0; i < want.length; i++) expect(got[i]).toBeCloseTo(want[i]!, 3);
        expect(expected(created - before)).toBe(true);
        await exe.dispose();
      }
    } finally {
      await second.dispose();
      await first.dispose();
    }
  });
});

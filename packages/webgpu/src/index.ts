/**
 * @kiln/webgpu — the WebGPU backend (Dawn's `webgpu` package in Node, navigator.gpu in browsers).
 *
 * A short tour:
 *   const r = await webgpuAvailable();                    // { ok, description } or { ok: false, reason }
 *   const backend = await createWebGPUBackend();          // { adapter?, powerPreference?, profile?, gemm? }
 *   const exe = await compileWith(graph, backend);        // core lowers Plans through backend.lower()
 *   await exe.run(feeds, { y });                          // one queue submission per run
 *   backend.stats;                                        // { submissions, allocatedBytes }
 *   await exe.dispose(); await backend.dispose();         // frees every buffer; Node can exit
 *
 * Inside: render.ts turns core's scalar expressions into WGSL; kernels/*.ts build kernel
 * descriptors from plan steps, mostly from the WGSL families in shaders/ (expanded by
 * preprocess.ts); program.ts turns descriptors into pipelines, bind groups and dispatches.
 *
 * @module @kiln/webgpu
 */
export { createWebGPUBackend, WebGPUBackend, type WebGPUBackendOptions } from './backend';
export { webgpuAvailable, closeWebGPU } from './gpu';
export { WebGPUProgram } from './program';
export { renderExpr, literal } from './render';
export { preprocess, shader, type Defines } from './preprocess';
export type { Kernel, DeviceTraits } from './kernel';

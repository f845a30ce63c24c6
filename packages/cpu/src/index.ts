/**
 * @kiln/cpu — the CPU fallback backend (generated JavaScript kernels, WebAssembly SIMD GEMMs).
 *
 * A short tour:
 *   const backend = await createCpuBackend();            // { mode: 'auto' | 'wasm' | 'cpu' | 'webasm', threads }
 *   const program = await backend.lower(plan);            // plan from core's compiler
 *   backend.createParam('w', 'f32', init);                // params are resident across runs
 *   const { outputs } = await program.run(feeds, [fetchBuf], { step: 0 });
 *   program.dispose(); backend.dispose();
 *
 *   // choosing a backend (used by the `kiln` package with its WebGPU probe):
 *   const choice = await chooseBackend('auto', probeWebgpu);   // honours KILN_BACKEND
 *   const line = fallbackNotice(choice);                        // one stderr line, or null
 *
 * @module @kiln/cpu
 */
export { createCpuBackend, type CpuBackend, type CpuBackendOptions, type CpuMode } from './backend';
export { chooseBackend, backendFromEnv, fallbackNotice, BACKEND_ENV, type BackendChoice, type BackendRequest, type WebgpuProbe } from './select';
export { renderExpr, compileScalar, literal } from './render';
export { fastExp } from './fastmath';
export { gemmJs, createGemmEngine, type GemmEngine, type GemmPolicy, type GemmEngineOptions } from './gemm';
export { loadGpuJs } from './gpujs';
export { wasmFeatures, type WasmFeatures } from './wasm/gemm';
export { compiledKernelSources } from './kernel';

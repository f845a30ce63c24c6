/**
 * GEMM, the inner engine of matmul and of every convolution (im2col / col2im around it):
 * C[M,N] = op(A)[M,K] . op(B)[K,N] (or +=), all row-major, op = transpose where a run asks.
 * Three formulations:
 *
 *   wasm    WebAssembly SIMD (wasm/gemm-wat.ts): packed panels, 4x8 f32x4 register tiles, cache
 *           blocks, relaxed-SIMD multiply-add where present, C split over worker threads on a
 *           shared memory (Node). 15-45 GFLOP/s per core here; the default wherever SIMD exists.
 *   js      4x4 register tiles in plain JavaScript: 16 float64 accumulators per tile, 8 loads
 *           per 16 multiply-adds. 2-3.5 GFLOP/s on one core. The fallback without SIMD.
 *   webasm  a gpu.js 'webasm' kernel in which each cell computes a 4-row strip of one column
 *           (returns Array(4)); kept as an explicit mode for comparison (scripts/probe.ts).
 *
 * scripts/README.md holds the measurements behind the choice.
 */
import { hardwareConcurrency } from '@kiln/core';
import { loadGpuJs, type WebasmKernel } from './gpujs';
import { acquireWasmGemm, type Im2colGeometry, wasmFeatures, type WasmGemm } from './wasm/gemm';

export interface GemmCall {
  /**
   * C (+)= op(A) . op(B). A is [M,K] at a[ao], or [K,M] when `transA`; B is [K,N] at b[bo], or
   * [N,K] when `transB`; C is [M,N] at c[co]. Returns a Promise when the formulation is
   * asynchronous (threaded gpu.js webasm).
   */
  run(a: Float32Array, ao: number, b: Float32Array, bo: number, c: Float32Array, co: number, accumulate: boolean, transA?: boolean, transB?: boolean): void | Promise<void>;
  /**
   * conv2d's GEMM with the column matrix built by the formulation itself (wasm only):
   * C[M, cnt*OH*OW] (+)= A[M, Cg*KH*KW] . im2col(cnt images at x[xo], channels c0..c0+Cg), or
   * with `transposeCols` C[M, Cg*KH*KW] (+)= A[M, cnt*OH*OW] . im2col(...)^T.
   */
  runIm2col?(a: Float32Array, ao: number, x: Float32Array, xo: number, g: Im2colGeometry, cnt: number, c0: number, c: Float32Array, co: number, accumulate: boolean, transposeCols?: boolean): void;
  /**
   * conv2d's input gradient with col2im done by the formulation (wasm only): dcols[M, N] =
   * op(A)[M, K] . B[K, N] (this call's shape, N = cnt*OH*OW), then the cnt images at y[yo]
   * (+)= col2im(dcols) over channels c0..c0+Cg.
   */
  runCol2im?(a: Float32Array, ao: number, transA: boolean, b: Float32Array, bo: number, g: Im2colGeometry, cnt: number, c0: number, y: Float32Array, yo: number, accumulate: boolean): void;
  /** How the last run executed: 'js', 'wasm' / 'wasm-relaxed' with 'xT' threads, or gpu.js's path. */
  lastPath(): string | null;
  /** Memory this call holds outside the Program's buffers (gpu.js's WebAssembly.Memory). */
  readonly bytes: number;
  dispose(): void;
}

export type GemmFormulation = 'js' | 'wasm' | 'webasm';

export interface GemmEngine {
  /** The formulation chosen for this shape. */
  formulation(m: number, k: number, n: number): GemmFormulation;
  prepare(m: number, k: number, n: number): GemmCall;
  dispose(): void;
}

/** 'auto': wasm where the runtime has WebAssembly SIMD, js otherwise. */
export type GemmPolicy = GemmFormulation | 'auto';

export interface GemmEngineOptions {
  /**
   * Threads per wasm GEMM, the calling one included: true (default) = the core count (at most
   * 16), false or 1 = none. Env KILN_CPU_THREADS=n overrides the default. Threads need Node
   * (worker_threads, shared WebAssembly memory); elsewhere the GEMM runs on one thread.
   */
  threads?: boolean | number;
  /** Use relaxed SIMD where the runtime has it (default true); false measures plain SIMD. */
  relaxed?: boolean;
  /** false: act as a runtime without WebAssembly SIMD ('auto' takes js); for tests and measurements. */
  simd?: boolean;
  /** Least work (flops) per thread before a wasm GEMM is split; 0 splits every one (tests). */
  minFlopsPerThread?: number;
}

/** Copy the [rows, cols] matrix at `src[so]` transposed into `dst[dof]` as [cols, rows]. */
export function packTranspose(src: Float32Array, so: number, rows: number, cols: number, dst: Float32Array, dof: number): void {
  for (let r = 0; r < rows; r++) {
    const s = so + r * cols;
    for (let c = 0; c < cols; c++) dst[dof + c * rows + r] = src[s + c]!;
  }
}

/** JavaScript GEMM with 4x4 register tiles; remainder rows/columns take narrower loops. */
export function gemmJs(a: Float32Array, ao: number, b: Float32Array, bo: number, c: Float32Array, co: number, M: number, K: number, N: number, accumulate: boolean): void {
  const M4 = M - (M & 3), N4 = N - (N & 3);
  for (let i = 0; i < M4; i += 4) {
    const r0 = ao + i * K, r1 = r0 + K, r2 = r1 + K, r3 = r2 + K;
    const o0 = co + i * N, o1 = o0 + N, o2 = o1 + N, o3 = o2 + N;
    for (let j = 0; j < N4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0, c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0, c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      for (let k = 0, p = bo + j; k < K; k++, p += N) {
        const b0 = b[p]!, b1 = b[p + 1]!, b2 = b[p + 2]!, b3 = b[p + 3]!;
        const a0 = a[r0 + k]!, a1 = a[r1 + k]!, a2 = a[r2 + k]!, a3 = a[r3 + k]!;
        c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
        c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
        c20 += a2 * b0; c21 += a2 * b1; c22 += a2 * b2; c23 += a2 * b3;
        c30 += a3 * b0; c31 += a3 * b1; c32 += a3 * b2; c33 += a3 * b3;
      }
      if (accumulate) {
        c00 += c[o0 + j]!; c01 += c[o0 + j + 1]!; c02 += c[o0 + j + 2]!; c03 += c[o0 + j + 3]!;
        c10 += c[o1 + j]!; c11 += c[o1 + j + 1]!; c12 += c[o1 + j + 2]!; c13 += c[o1 + j + 3]!;
        c20 += c[o2 + j]!; c21 += c[o2 + j + 1]!; c22 += c[o2 + j + 2]!; c23 += c[o2 + j + 3]!;
        c30 += c[o3 + j]!; c31 += c[o3 + j + 1]!; c32 += c[o3 + j + 2]!; c33 += c[o3 + j + 3]!;
      }
      c[o0 + j] = c00; c[o0 + j + 1] = c01; c[o0 + j + 2] = c02; c[o0 + j + 3] = c03;
      c[o1 + j] = c10; c[o1 + j + 1] = c11; c[o1 + j + 2] = c12; c[o1 + j + 3] = c13;
      c[o2 + j] = c20; c[o2 + j + 1] = c21; c[o2 + j + 2] = c22; c[o2 + j + 3] = c23;
      c[o3 + j] = c30; c[o3 + j + 1] = c31; c[o3 + j + 2] = c32; c[o3 + j + 3] = c33;
    }
    for (let j = N4; j < N; j++) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0, p = bo + j; k < K; k++, p += N) {
        const bv = b[p]!;
        s0 += a[r0 + k]! * bv; s1 += a[r1 + k]! * bv; s2 += a[r2 + k]! * bv; s3 += a[r3 + k]! * bv;
      }
      if (accumulate) { s0 += c[o0 + j]!; s1 += c[o1 + j]!; s2 += c[o2 + j]!; s3 += c[o3 + j]!; }
      c[o0 + j] = s0; c[o1 + j] = s1; c[o2 + j] = s2; c[o3 + j] = s3;
    }
  }
  for (let i = M4; i < M; i++) {
    const r = ao + i * K, o = co + i * N;
    let j = 0;
    for (; j < N4; j += 4) {
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let k = 0, p = bo + j; k < K; k++, p += N) {
        const av = a[r + k]!;
        s0 += av * b[p]!; s1 += av * b[p + 1]!; s2 += av * b[p + 2]!; s3 += av * b[p + 3]!;
      }
      if (accumulate) { s0 += c[o + j]!; s1 += c[o + j + 1]!; s2 += c[o + j + 2]!; s3 += c[o + j + 3]!; }
      c[o + j] = s0; c[o + j + 1] = s1; c[o + j + 2] = s2; c[o + j + 3] = s3;
    }
    for (; j < N; j++) {
      let s = 0;
      for (let k = 0, p = bo + j; k < K; k++, p += N) s += a[r + k]! * b[p]!;
      c[o + j] = accumulate ? c[o + j]! + s : s;
    }
  }
}

/** gpu.js kernel source: one cell = rows 4y..4y+3 of column x (rows past M read slack, discarded). */
function webasmSource(K: number, N: number): string {
  return `function(a, b) {
    let s0 = 0; let s1 = 0; let s2 = 0; let s3 = 0;
    const r0 = this.thread.y * ${4 * K};
    const x = this.thread.x;
    for (let k = 0; k < ${K}; k++) {
      const bv = b[k * ${N} + x];
      s0 += a[r0 + k] * bv;
      s1 += a[r0 + ${K} + k] * bv;
      s2 += a[r0 + ${2 * K} + k] * bv;
      s3 += a[r0 + ${3 * K} + k] * bv;
    }
    return [s0, s1, s2, s3];
  }`;
}

type PlainRun = (a: Float32Array, ao: number, b: Float32Array, bo: number, c: Float32Array, co: number, accumulate: boolean) => void | Promise<void>;

/**
 * A run for formulations that read A and B row-major only: transposed operands are packed first
 * (O(MK) against O(MKN) work) into arrays made on the first transposed run and reused after.
 */
function transposing(M: number, K: number, N: number, run: PlainRun): GemmCall['run'] {
  let at: Float32Array | null = null, bt: Float32Array | null = null;
  return (a, ao, b, bo, c, co, acc, ta = false, tb = false) => {
    if (ta) { packTranspose(a, ao, K, M, (at ??= new Float32Array(M * K)), 0); a = at; ao = 0; }
    if (tb) { packTranspose(b, bo, N, K, (bt ??= new Float32Array(K * N)), 0); b = bt; bo = 0; }
    return run(a, ao, b, bo, c, co, acc);
  };
}

const jsCall = (M: number, K: number, N: number): GemmCall => ({
  run: transposing(M, K, N, (a, ao, b, bo, c, co, acc) => gemmJs(a, ao, b, bo, c, co, M, K, N, acc)),
  lastPath: () => 'js',
  bytes: 0,
  dispose: () => {},
});

const wasmCall = (engine: WasmGemm, M: number, K: number, N: number): GemmCall => ({
  run: (a, ao, b, bo, c, co, acc, ta = false, tb = false) => engine.gemm(M, K, N, a, ao, ta, b, bo, tb, c, co, acc),
  runIm2col: (a, ao, x, xo, g, cnt, c0, c, co, acc, tc) => engine.gemmIm2col(M, a, ao, x, xo, g, cnt, c0, c, co, acc, tc),
  runCol2im: (a, ao, ta, b, bo, g, cnt, c0, y, yo, acc) => engine.gemmCol2im(K, a, ao, ta, b, bo, g, cnt, c0, y, yo, acc),
  lastPath: () => `${engine.relaxed ? 'wasm-relaxed' : 'wasm'}x${engine.lastThreads}`,
  bytes: 0, // the engine's memory is the process's, shared by every backend
  dispose: () => {},
});

/** The thread count from the options, then KILN_CPU_THREADS, then the machine. */
export function gemmThreads(option: boolean | number | undefined, env: Readonly<Record<string, string | undefined>> = (globalThis as { process?: { env?: Record<string, string | undefined> } }).process?.env ?? {}): number {
  if (option === false) return 1;
  if (typeof option === 'number') return Math.max(1, Math.min(16, Math.floor(option) || 1));
  const v = env.KILN_CPU_THREADS?.trim();
  if (v) return Math.max(1, Math.min(16, Number.parseInt(v, 10) || 1));
  return Math.min(16, hardwareConcurrency());
}

/**
 * The GEMM engine of one backend. `policy` picks the formulation: 'auto' (wasm where SIMD
 * exists, js otherwise), or one forced; a forced 'wasm' without SIMD throws KernelCompileError.
 */
export function createGemmEngine(policy: GemmPolicy, options: GemmEngineOptions = {}): GemmEngine {
  const kind: GemmFormulation = policy === 'auto' ? (options.simd !== false && wasmFeatures().simd ? 'wasm' : 'js') : policy;
  const wasm = kind === 'wasm' ? acquireWasmGemm({ threads: gemmThreads(options.threads), relaxed: options.relaxed ?? true, ...(options.minFlopsPerThread !== undefined ? { minFlopsPerThread: options.minFlopsPerThread } : {}) }) : null;
  const kernels = new Set<WebasmKernel>();
  const gpuThreads = options.threads !== false && options.threads !== 1;
  return {
    formulation: () => kind,
    prepare(M, K, N) {
      if (M === 0 || N === 0 || K === 0) return jsCall(M, K, N);
      if (wasm) return wasmCall(wasm.engine, M, K, N);
      if (kind === 'js') return jsCall(M, K, N);
      return webasmCall(M, K, N, gpuThreads, kernels);
    },
    dispose() {
      for (const k of kernels) k.dispose();
      kernels.clear();
      wasm?.release();
    },
  };
}

/** A gpu.js webasm GEMM (kept for comparison: mode 'webasm'). */
function webasmCall(M: number, K: number, N: number, threads: boolean, kernels: Set<WebasmKernel>): GemmCall {
  const gpu = loadGpuJs();
  const rows4 = Math.ceil(M / 4);
  const kernel = gpu.kernel(webasmSource(K, N), [N, rows4], { threads });
  kernels.add(kernel);
  const finish = (flat: Float32Array, c: Float32Array, co: number, acc: boolean) => {
    // flat is [rows4][N][4]: cell (x, y) holds rows 4y..4y+3 of column x.
    for (let g = 0; g < rows4; g++) {
      const rows = Math.min(4, M - 4 * g);
      for (let r = 0; r < rows; r++) {
        const o = co + (4 * g + r) * N;
        let p = g * N * 4 + r;
        if (acc) for (let x = 0; x < N; x++, p += 4) c[o + x] += flat[p]!;
        else for (let x = 0; x < N; x++, p += 4) c[o + x] = flat[p]!;
      }
    }
  };
  return {
    run: transposing(M, K, N, (a, ao, b, bo, c, co, acc) => {
      const r = kernel.run(a.subarray(ao, ao + M * K), b.subarray(bo, bo + K * N));
      if (r instanceof Promise) return r.then((flat) => finish(flat, c, co, acc));
      finish(r, c, co, acc);
    }),
    lastPath: () => gpu.lastRunPath(kernel),
    // gpu.js lays out [a | b | out] 16-byte aligned, plus 16 pages of slack (webasm/kernel.js).
    bytes: (Math.ceil(((M * K + 3) & ~3) * 4 / 65536 + ((K * N + 3) & ~3) * 4 / 65536 + (rows4 * N * 16) / 65536) + 16) * 65536,
    dispose() {
      kernel.dispose();
      kernels.delete(kernel);
    },
  };
}

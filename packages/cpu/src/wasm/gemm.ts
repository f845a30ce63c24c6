/**
 * The WebAssembly SIMD GEMM (module text in gemm-wat.ts, bytes in gemm.gen.ts): feature
 * detection, one WebAssembly.Memory holding the operands and every thread's packing scratch,
 * and a worker pool that splits C between threads over that memory when it is shared.
 *
 * A call copies A and B into the memory (TypedArray.set, a memcpy), runs `gemm` on each thread's
 * part of C, and copies C out: O(MK + KN + MN) copies against O(MKN) work, and the packing the
 * kernel needs happens in wasm from there. Calls are synchronous: the main thread computes its
 * own part, then blocks in Atomics.wait until the workers are done (Node allows that on the main
 * thread; a page does not, so a page runs one thread — see `wasmFeatures`).
 *
 * Threads: worker_threads in Node (reached through core's nodeBuiltin, so no bundler sees it);
 * none in a page for now. One engine per configuration is shared by every backend in the
 * process (reference-counted): GEMMs run one at a time on the JavaScript thread anyway.
 */
import { isNode, KernelCompileError, nodeBuiltin } from '@kiln/core';
import { GEMM_BLOCKING, gemmScratchBytes, MAX_PAGES } from './gemm-wat';
import { GEMM_WASM } from './gemm.gen';

export interface WasmFeatures {
  /** f32x4 SIMD (the GEMM needs it; without it the backend runs its JavaScript GEMM). */
  readonly simd: boolean;
  /** Relaxed SIMD (f32x4.relaxed_madd, a fused multiply-add where the CPU has one). */
  readonly relaxed: boolean;
  /** Shared memory and workers that may block: Node's worker_threads. */
  readonly threads: boolean;
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

/** Base64 to bytes without atob (absent from some embedders' globals). */
function decode(b64: string): Uint8Array {
  const clean = b64.replace(/=+$/, '');
  const out = new Uint8Array(Math.floor((clean.length * 3) / 4));
  let bits = 0, acc = 0, o = 0;
  for (let i = 0; i < clean.length; i++) {
    acc = (acc << 6) | B64.indexOf(clean[i]!);
    bits += 6;
    if (bits >= 8) { bits -= 8; out[o++] = (acc >> bits) & 255; }
  }
  return out;
}

let features: WasmFeatures | null = null;
const bytes = new Map<keyof typeof GEMM_WASM, Uint8Array>();
const moduleBytes = (name: keyof typeof GEMM_WASM): Uint8Array => {
  let b = bytes.get(name);
  if (!b) bytes.set(name, (b = decode(GEMM_WASM[name])));
  return b;
};

/** What this runtime offers, detected once by validating the modules themselves. */
export function wasmFeatures(): WasmFeatures {
  if (features) return features;
  const wa = (globalThis as { WebAssembly?: typeof WebAssembly }).WebAssembly;
  const valid = (name: keyof typeof GEMM_WASM) => {
    try {
      return !!wa && wa.validate(moduleBytes(name) as BufferSource);
    } catch {
      return false;
    }
  };
  const simd = valid('simd');
  let threads = false;
  if (simd && isNode() && typeof SharedArrayBuffer !== 'undefined' && valid('simdShared')) {
    try {
      new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
      threads = true;
    } catch {
      threads = false;
    }
  }
  features = { simd, relaxed: simd && valid('relaxed'), threads };
  return features;
}

/**
 * Each worker's 32-int control block: [0] the state word, [1] the job (JOB_*), [2..] its
 * arguments (13 for gemm, 18 for im2col / col2im).
 */
const POSTED = 1, DONE = 2, EXIT = 3, FAILED = 4;
const CTL_INTS = 32;
const JOB_GEMM = 0, JOB_IM2COL = 1, JOB_COL2IM = 2;

/** Source of each worker: instantiate the module over the shared memory, then serve jobs. */
const WORKER_SOURCE = `
const { workerData } = require('worker_threads'); // no 'node:' prefix: a page bundle is checked for none
const { module, memory, slot } = workerData;
const ctl = new Int32Array(memory.buffer, slot * ${4 * CTL_INTS}, ${CTL_INTS});
let jobs = null;
try {
  const e = new WebAssembly.Instance(module, { env: { memory } }).exports;
  jobs = [e.gemm, e.im2col, e.col2im];
} catch (e) {}
let seen = 0;
for (;;) {
  Atomics.wait(ctl, 0, seen);
  const s = Atomics.load(ctl, 0);
  if (s === ${EXIT}) break;
  if (s === ${POSTED}) {
    // A worker that could not instantiate answers every job with FAILED, so no caller waits forever.
    let done = jobs ? ${DONE} : ${FAILED};
    if (jobs) {
      try {
        if (ctl[1] === ${JOB_GEMM}) jobs[0](ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7], ctl[8], ctl[9], ctl[10], ctl[11], ctl[12], ctl[13], ctl[14]);
        else jobs[ctl[1]](ctl[2], ctl[3], ctl[4], ctl[5], ctl[6], ctl[7], ctl[8], ctl[9], ctl[10], ctl[11], ctl[12], ctl[13], ctl[14], ctl[15], ctl[16], ctl[17], ctl[18], ctl[19]);
      } catch (e) { done = ${FAILED}; }
    }
    Atomics.store(ctl, 0, done);
    Atomics.notify(ctl, 0);
    seen = done;
  } else seen = s;
}
`;

interface NodeWorker { terminate(): Promise<number>; unref(): void }

/** Rounded up to a multiple of 64 bytes (a cache line). */
const align = (n: number) => (n + 63) & ~63;

export interface WasmGemmOptions {
  /** Threads that share one call, the calling one included (1 = no workers). */
  readonly threads: number;
  /** Use relaxed SIMD when the runtime has it (default true). */
  readonly relaxed?: boolean;
  /** Least work (2MNK) per thread before a call is split (default MIN_FLOPS_PER_THREAD; 0 splits every call, for tests). */
  readonly minFlopsPerThread?: number;
}

/** What im2col needs of a convolution's geometry (core's ConvGeometry has these fields). */
export interface Im2colGeometry {
  readonly C: number; readonly H: number; readonly W: number; readonly OH: number; readonly OW: number;
  readonly Cg: number; readonly KH: number; readonly KW: number;
  readonly sh: number; readonly sw: number; readonly pt: number; readonly pl: number; readonly dh: number; readonly dw: number;
}

/** Where each thread's part of C starts and ends, and along which dimension. */
interface Split { readonly dim: 'm' | 'n'; readonly bounds: Int32Array }

/**
 * The GEMM engine over one memory. `gemm` runs C (+)= op(A) . op(B) with op = transpose where
 * asked, A and B given as (array, offset) in their stored layouts.
 */
export class WasmGemm {
  readonly threads: number;
  readonly relaxed: boolean;
  /** Threads the last call ran on (1 when its work was too small to split). */
  lastThreads = 0;
  private readonly memory: WebAssembly.Memory;
  private readonly kernel: (...args: number[]) => void;
  private readonly im2colFn: (...args: number[]) => void;
  private readonly col2imFn: (...args: number[]) => void;
  private readonly workers: NodeWorker[] = [];
  private readonly scratch: number;
  private readonly heapBase: number;
  private heap: Float32Array;
  private ctl: Int32Array;
  private disposed = false;
  private readonly splitBuf: Int32Array;
  private readonly minFlops: number;

  constructor(options: WasmGemmOptions) {
    const f = wasmFeatures();
    if (!f.simd) throw new KernelCompileError('cpu backend: this runtime has no WebAssembly SIMD', 'wasm-gemm');
    this.threads = Math.max(1, Math.min(16, f.threads ? Math.floor(options.threads) : 1));
    this.relaxed = (options.relaxed ?? true) && f.relaxed;
    this.minFlops = Math.max(1, options.minFlopsPerThread ?? MIN_FLOPS_PER_THREAD);
    const shared = this.threads > 1;
    const name = `${this.relaxed ? 'relaxed' : 'simd'}${shared ? 'Shared' : ''}` as keyof typeof GEMM_WASM;
    const module = new WebAssembly.Module(moduleBytes(name) as BufferSource);
    this.scratch = align(4 * CTL_INTS * 16);
    this.heapBase = this.scratch + this.threads * align(gemmScratchBytes());
    this.memory = new WebAssembly.Memory({ initial: Math.ceil(this.heapBase / 65536) + 1, maximum: MAX_PAGES, ...(shared ? { shared: true } : {}) });
    const exports = new WebAssembly.Instance(module, { env: { memory: this.memory } }).exports;
    this.kernel = exports.gemm as (...args: number[]) => void;
    this.im2colFn = exports.im2col as (...args: number[]) => void;
    this.col2imFn = exports.col2im as (...args: number[]) => void;
    this.heap = new Float32Array(this.memory.buffer);
    this.ctl = new Int32Array(this.memory.buffer, 0, 16 * CTL_INTS);
    this.splitBuf = new Int32Array(this.threads + 1);
    if (shared) {
      const { Worker } = nodeBuiltin<typeof import('node:worker_threads')>('node:worker_threads', 'cpu backend threads');
      for (let t = 1; t < this.threads; t++) {
        const w = new Worker(WORKER_SOURCE, { eval: true, workerData: { module, memory: this.memory, slot: t } });
        w.unref(); // an idle pool never keeps the process alive
        this.workers.push(w);
      }
    }
  }

  /** Bytes the engine holds (its memory). */
  get bytes(): number {
    return this.memory.buffer.byteLength;
  }

  private reserve(elems: number): void {
    const need = this.heapBase + 4 * elems;
    const have = this.memory.buffer.byteLength;
    if (need > have) {
      if (need > MAX_PAGES * 65536) throw new KernelCompileError(`cpu backend: a GEMM needs ${need} bytes of wasm memory, more than ${MAX_PAGES * 65536}`, 'wasm-gemm');
      this.memory.grow(Math.ceil((need - have) / 65536));
    }
    if (this.heap.buffer !== this.memory.buffer || this.heap.length * 4 !== this.memory.buffer.byteLength) {
      this.heap = new Float32Array(this.memory.buffer);
      this.ctl = new Int32Array(this.memory.buffer, 0, 16 * CTL_INTS);
    }
  }

  /**
   * Thread bounds: split the dimension whose other operand is cheaper to pack twice (N when
   * M <= N: each thread packs all of A but only its columns of B), in whole tiles; fewer threads
   * when a part would be under one tile or the work is small.
   */
  private split(M: number, K: number, N: number): Split {
    const b = this.splitBuf;
    const dim = M <= N ? 'n' : 'm';
    const len = dim === 'n' ? N : M, tile = dim === 'n' ? GEMM_BLOCKING.nr : GEMM_BLOCKING.mr;
    const byWork = Math.floor((2 * M * N * K) / this.minFlops);
    const t = Math.max(1, Math.min(this.threads, byWork, Math.floor(len / tile)));
    const tiles = Math.ceil(len / tile);
    b.fill(len);
    b[0] = 0;
    for (let i = 1; i < t; i++) b[i] = Math.min(len, Math.round((tiles * i) / t) * tile);
    return { dim, bounds: b };
  }

  /**
   * C[M,N] = op(A) . op(B) (+ C when `accumulate`). A is [M,K] at a[ao] ([K,M] when transA),
   * B is [K,N] at b[bo] ([N,K] when transB), C is [M,N] at c[co]; all row-major. M, K, N >= 1.
   */
  gemm(M: number, K: number, N: number, a: Float32Array, ao: number, transA: boolean, b: Float32Array, bo: number, transB: boolean, c: Float32Array, co: number, accumulate: boolean): void {
    this.alive();
    const pa = 0, pb = M * K + 16, pc = pb + K * N + 16;
    this.reserve(pc + M * N + 16);
    const heap = this.heap, base = this.heapBase >> 2;
    copyIn(heap, base + pa, a, ao, M * K);
    copyIn(heap, base + pb, b, bo, K * N);
    if (accumulate) copyIn(heap, base + pc, c, co, M * N);
    this.compute(M, K, N, pa, transA, pb, transB, pc, accumulate);
    c.set(heap.subarray(base + pc, base + pc + M * N), co);
  }

  /**
   * conv2d's GEMM with its column matrix built in wasm memory: C[M,N] (+)= A[M,K] . cols[K,N],
   * cols = im2col of `cnt` NCHW images starting at x[xo] (channels c0 .. c0+Cg of `g`), so
   * K = Cg*KH*KW and N = cnt*OH*OW. Saves the JavaScript im2col and the copy of cols.
   * `transposeCols`: C[M, Cg*KH*KW] (+)= A[M, cnt*OH*OW] . cols^T instead (conv2d's filter
   * gradient, dW_g = dY_g . cols^T).
   */
  gemmIm2col(M: number, a: Float32Array, ao: number, x: Float32Array, xo: number, g: Im2colGeometry, cnt: number, c0: number, c: Float32Array, co: number, accumulate: boolean, transposeCols = false): void {
    this.alive();
    const rows = g.Cg * g.KH * g.KW, width = cnt * g.OH * g.OW, img = g.C * g.H * g.W;
    const K = transposeCols ? width : rows, N = transposeCols ? rows : width;
    // Row reads past an image's edge are zeroed by select; slack keeps them inside memory.
    const slack = g.OW * g.sw + g.KW * g.dw + 16;
    const pa = 0, pb = M * K + 16, pc = pb + K * N + 16, px = pc + M * N + slack;
    this.reserve(px + cnt * img + slack);
    const heap = this.heap, base = this.heapBase >> 2;
    copyIn(heap, base + pa, a, ao, M * K);
    copyIn(heap, base + px, x, xo, cnt * img);
    if (accumulate) copyIn(heap, base + pc, c, co, M * N);
    this.columns(JOB_IM2COL, this.heapBase + 4 * px, g, cnt, c0, this.heapBase + 4 * pb);
    this.compute(M, K, N, pa, false, pb, transposeCols, pc, accumulate);
    c.set(heap.subarray(base + pc, base + pc + M * N), co);
  }

  /**
   * conv2d's input gradient with col2im in wasm memory: dcols[Cg*KH*KW, cnt*OH*OW] = op(A)[Cg*KH*KW, K]
   * . B[K, cnt*OH*OW], then y[cnt images at y[yo], channels c0..c0+Cg] (+)= col2im(dcols). Without
   * `accumulate` the images' other channels become 0 (right when one group covers them all).
   */
  gemmCol2im(K: number, a: Float32Array, ao: number, transA: boolean, b: Float32Array, bo: number, g: Im2colGeometry, cnt: number, c0: number, y: Float32Array, yo: number, accumulate: boolean): void {
    this.alive();
    const M = g.Cg * g.KH * g.KW, N = cnt * g.OH * g.OW, img = g.C * g.H * g.W;
    const pa = 0, pb = M * K + 16, pc = pb + K * N + 16, py = pc + M * N + 16;
    this.reserve(py + cnt * img + 16);
    const heap = this.heap, base = this.heapBase >> 2;
    copyIn(heap, base + pa, a, ao, M * K);
    copyIn(heap, base + pb, b, bo, K * N);
    if (accumulate) copyIn(heap, base + py, y, yo, cnt * img);
    else heap.fill(0, base + py, base + py + cnt * img);
    this.compute(M, K, N, pa, transA, pb, false, pc, false);
    this.columns(JOB_COL2IM, this.heapBase + 4 * py, g, cnt, c0, this.heapBase + 4 * pc);
    y.set(heap.subarray(base + py, base + py + cnt * img), yo);
  }

  private alive(): void {
    if (this.disposed) throw new KernelCompileError('cpu backend: the wasm GEMM engine was disposed', 'wasm-gemm');
  }

  /** Run `gemm` on operands already in memory (element offsets from the heap base), split over the threads. */
  private compute(M: number, K: number, N: number, pa: number, transA: boolean, pb: number, transB: boolean, pc: number, accumulate: boolean): void {
    const rsa = transA ? 1 : K, csa = transA ? M : 1, rsb = transB ? 1 : N, csb = transB ? K : 1;
    const A = this.heapBase + 4 * pa, B = this.heapBase + 4 * pb, C = this.heapBase + 4 * pc;
    const beta = accumulate ? 1 : 0;
    const { dim, bounds } = this.split(M, K, N);
    const ctl = this.ctl;
    let posted = 0;
    for (let t = 1; t < this.threads && bounds[t]! < bounds[t + 1]!; t++) {
      const lo = bounds[t]!, hi = bounds[t + 1]!, q = t * CTL_INTS;
      ctl[q + 1] = JOB_GEMM;
      if (dim === 'n') setArgs(ctl, q, M, hi - lo, K, A, rsa, csa, B + 4 * lo * csb, rsb, csb, C + 4 * lo, N, beta);
      else setArgs(ctl, q, hi - lo, N, K, A + 4 * lo * rsa, rsa, csa, B, rsb, csb, C + 4 * lo * N, N, beta);
      ctl[q + 14] = this.scratch + t * align(gemmScratchBytes());
      Atomics.store(ctl, q, POSTED);
      Atomics.notify(ctl, q);
      posted = t;
    }
    const hi0 = bounds[1]!;
    // NOTE: the workers are always waited for, even when this thread's part throws: a worker
    // still running when the next call writes its arguments would compute garbage.
    let error: unknown = null;
    try {
      if (hi0 > 0) {
        if (dim === 'n') this.kernel(M, hi0, K, A, rsa, csa, B, rsb, csb, C, N, beta, this.scratch);
        else this.kernel(hi0, N, K, A, rsa, csa, B, rsb, csb, C, N, beta, this.scratch);
      }
    } catch (e) {
      error = e;
    }
    this.lastThreads = posted + 1;
    this.join(posted, error, `${M}x${K}x${N}`);
  }

  /** Wait for workers 1..posted; then rethrow this thread's error, or report a failed worker. */
  private join(posted: number, error: unknown, what: string): void {
    const ctl = this.ctl;
    let failed = false;
    for (let t = 1; t <= posted; t++) {
      const q = t * CTL_INTS;
      while (Atomics.load(ctl, q) === POSTED) Atomics.wait(ctl, q, POSTED);
      failed ||= ctl[q] === FAILED;
    }
    if (error) throw error;
    if (failed) throw new KernelCompileError(`cpu backend: a wasm worker failed (${what})`, 'wasm-gemm');
  }

  /**
   * im2col or col2im (job) over the threads: each takes a range of the group's channels, whose
   * rows of the column matrix (and, for col2im, whose image channels) no other thread touches.
   */
  private columns(job: typeof JOB_IM2COL | typeof JOB_COL2IM, x: number, g: Im2colGeometry, cnt: number, c0: number, cols: number): void {
    const fn = job === JOB_IM2COL ? this.im2colFn : this.col2imFn;
    const rowsPerChannel = g.KH * g.KW, width = cnt * g.OH * g.OW;
    // Scaled with minFlopsPerThread, so a test that splits every GEMM splits these too.
    const minElems = Math.max(1, (MIN_COLUMN_ELEMS_PER_THREAD * this.minFlops) / MIN_FLOPS_PER_THREAD);
    const t = Math.max(1, Math.min(this.threads, g.Cg, Math.floor((g.Cg * rowsPerChannel * width) / minElems)));
    const ctl = this.ctl;
    const at = (i: number) => Math.round((g.Cg * i) / t);
    for (let i = 1; i < t; i++) {
      const lo = at(i), hi = at(i + 1), q = i * CTL_INTS;
      ctl[q + 1] = job;
      setColumnArgs(ctl, q, x, g, hi - lo, cnt, c0 + lo, cols + 4 * lo * rowsPerChannel * width);
      Atomics.store(ctl, q, POSTED);
      Atomics.notify(ctl, q);
    }
    let error: unknown = null;
    try {
      fn(x, g.C, g.H, g.W, g.OH, g.OW, at(1), g.KH, g.KW, g.sh, g.sw, g.pt, g.pl, g.dh, g.dw, cnt, c0, cols);
    } catch (e) {
      error = e;
    }
    this.join(t - 1, error, `${job === JOB_IM2COL ? 'im2col' : 'col2im'} of ${cnt} images`);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (let t = 1; t <= this.workers.length; t++) {
      Atomics.store(this.ctl, t * CTL_INTS, EXIT);
      Atomics.notify(this.ctl, t * CTL_INTS);
    }
    for (const w of this.workers) void w.terminate();
    this.workers.length = 0;
  }
}

/** Below this much work a thread does not pay for its wake-up (~20-50 us; scripts/README.md). */
export const MIN_FLOPS_PER_THREAD = 1 << 20;

/** Below this many column-matrix elements per thread, im2col / col2im stay on one thread. */
export const MIN_COLUMN_ELEMS_PER_THREAD = 1 << 15;

/** An im2col / col2im job's arguments (the wasm functions' order) into a control block. */
function setColumnArgs(ctl: Int32Array, q: number, x: number, g: Im2colGeometry, cg: number, cnt: number, c0: number, cols: number): void {
  ctl[q + 2] = x; ctl[q + 3] = g.C; ctl[q + 4] = g.H; ctl[q + 5] = g.W; ctl[q + 6] = g.OH; ctl[q + 7] = g.OW;
  ctl[q + 8] = cg; ctl[q + 9] = g.KH; ctl[q + 10] = g.KW; ctl[q + 11] = g.sh; ctl[q + 12] = g.sw; ctl[q + 13] = g.pt;
  ctl[q + 14] = g.pl; ctl[q + 15] = g.dh; ctl[q + 16] = g.dw; ctl[q + 17] = cnt; ctl[q + 18] = c0; ctl[q + 19] = cols;
}

/** dst[at..] = src[so..so+n]; a whole array goes in without a subarray view. */
function copyIn(dst: Float32Array, at: number, src: Float32Array, so: number, n: number): void {
  if (so === 0 && src.length === n) dst.set(src, at);
  else dst.set(src.subarray(so, so + n), at);
}

/** A job's `gemm` arguments into a worker's control block (no array per call). */
function setArgs(ctl: Int32Array, q: number, M: number, N: number, K: number, a: number, rsa: number, csa: number, b: number, rsb: number, csb: number, c: number, ldc: number, beta: number): void {
  ctl[q + 2] = M; ctl[q + 3] = N; ctl[q + 4] = K; ctl[q + 5] = a; ctl[q + 6] = rsa; ctl[q + 7] = csa;
  ctl[q + 8] = b; ctl[q + 9] = rsb; ctl[q + 10] = csb; ctl[q + 11] = c; ctl[q + 12] = ldc; ctl[q + 13] = beta;
}

const engines = new Map<string, { engine: WasmGemm; users: number }>();

/**
 * The process's engine for these options, shared by every backend that asks; call the returned
 * release once when done (the last release stops its workers).
 */
export function acquireWasmGemm(options: WasmGemmOptions): { engine: WasmGemm; release: () => void } {
  const key = `${options.threads}:${options.relaxed ?? true}:${options.minFlopsPerThread ?? MIN_FLOPS_PER_THREAD}`;
  let e = engines.get(key);
  if (!e) engines.set(key, (e = { engine: new WasmGemm(options), users: 0 }));
  e.users++;
  const entry = e;
  let released = false;
  return {
    engine: entry.engine,
    release: () => {
      if (released) return;
      released = true;
      if (--entry.users === 0) {
        entry.engine.dispose();
        engines.delete(key);
      }
    },
  };
}

/**
 * gpu.js 2.24.1, loaded lazily (only a backend that takes a webasm kernel pays for its parser).
 *
 * gpu.js is CommonJS. Its optional `gl` dependency (headless-gl, a native build) is required
 * inside a try/catch in gpu.js itself, so loading works without it; we only ever use the
 * 'webasm' mode, which needs WebAssembly (and SharedArrayBuffer for threads).
 *
 * NOTE: three private hooks of gpu.js's WebAssemblyKernel are used, all pinned by the exact
 * version in package.json and checked by test/cpu:
 *  - `_shapeOutput` is replaced by the identity: gpu.js otherwise erects the flat result into
 *    nested arrays of subarrays (one object per row or cell), which costs more than the copy;
 *  - `_pool` is preset to one worker pool shared by every kernel (gpu.js makes one pool per
 *    kernel, which would be cores x kernels threads for a compiled graph);
 *  - `_moduleCache` is walked on dispose to release each entry from the shared pool.
 */
import { hardwareConcurrency, isNode, KernelCompileError, nodeBuiltin } from '@kiln/core';

export interface WebasmKernel {
  /** Flat f32 result (a fresh array); a Promise when the call ran on the worker pool. */
  run(...args: Float32Array[]): Float32Array | Promise<Float32Array>;
  dispose(): void;
}

interface GpuKernelInstance {
  constructor: { mode: string };
  fallbackReason?: string | null;
  _shapeOutput: (data: Float32Array) => unknown;
  _pool: unknown;
  _moduleCache: Map<unknown, { id: number; shared: boolean }>;
  _lastRunPath?: string | null;
  destroy(): void;
}
type GpuKernel = ((...args: unknown[]) => unknown) & { kernel: GpuKernelInstance };
interface GpuInstance { createKernel(src: string, settings: Record<string, unknown>): GpuKernel }
interface GpuJsModule {
  GPU: { new (settings: { mode: string }): GpuInstance; isWebAssemblySupported: boolean };
  WebAssemblyKernel: { isThreadsSupported: boolean; isSIMDSupported: boolean };
}
interface WorkerPool { size: number; release(id: number): void; destroy(): void }

export interface GpuJs {
  readonly version: string;
  readonly simd: boolean;
  readonly threads: boolean;
  /** A webasm kernel over flat Float32Array arguments, output [x, y(, z)]. */
  kernel(source: string, output: readonly number[], options: { threads: boolean }): WebasmKernel;
  /** The last path gpu.js took for a kernel ('simd', 'threaded', ...), for tests. */
  lastRunPath(k: WebasmKernel): string | null;
}

let loaded: GpuJs | null = null;
let pool: WorkerPool | null = null;
let poolUsers = 0;
const paths = new WeakMap<WebasmKernel, () => string | null>();

/** Keep the shared worker pool alive while a backend uses it; the last release terminates it. */
export function acquireWebasmPool(): () => void {
  poolUsers++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    if (--poolUsers === 0 && pool) {
      pool.destroy();
      pool = null;
    }
  };
}

export function loadGpuJs(): GpuJs {
  if (loaded) return loaded;
  // gpu.js is loaded through Node's require; a page bundle would need gpu.js's browser build and
  // 'unsafe-eval', so in a page the CPU backend runs its JavaScript kernels only.
  if (!isNode()) throw new KernelCompileError('cpu backend: gpu.js webasm kernels are loaded only under Node', 'webasm');
  const { createRequire } = nodeBuiltin<typeof import('node:module')>('node:module', 'loadGpuJs');
  const require = createRequire(import.meta.url);
  const g = require('gpu.js') as GpuJsModule;
  const { WebAssemblyWorkerPool } = require('gpu.js/src/backend/web-assembly/worker-pool.js') as { WebAssemblyWorkerPool: new (size?: number) => WorkerPool };
  const version = (require('gpu.js/package.json') as { version: string }).version;
  if (!g.GPU.isWebAssemblySupported) throw new KernelCompileError('cpu backend: gpu.js reports no WebAssembly support here; use mode \'cpu\'', 'webasm');
  const gpu = new g.GPU({ mode: 'webasm' });
  const threads = g.WebAssemblyKernel.isThreadsSupported;
  const sharedPool = (): WorkerPool => (pool ??= new WebAssemblyWorkerPool(hardwareConcurrency()));
  loaded = {
    version,
    simd: g.WebAssemblyKernel.isSIMDSupported,
    threads,
    kernel(source, output, options) {
      const threaded = options.threads && threads;
      const k = gpu.createKernel(source, { output: [...output], asyncMode: threaded, loopMaxIterations: 1 << 30 });
      const inst = k.kernel;
      inst._shapeOutput = (data) => data;
      let poolRef: WorkerPool | null = null;
      if (threaded) inst._pool = poolRef = sharedPool();
      let checked = false;
      const check = (r: unknown): Float32Array => {
        if (!checked) {
          checked = true;
          if (k.kernel.constructor.mode !== 'webasm' || !(r instanceof Float32Array)) {
            throw new KernelCompileError(`cpu backend: gpu.js did not run this kernel as webasm (${k.kernel.fallbackReason ?? k.kernel.constructor.mode})`, 'webasm', source.split('\n')[0]);
          }
        }
        return r as Float32Array;
      };
      const wk: WebasmKernel = {
        run(...args) {
          const r = k(...args);
          return r instanceof Promise ? r.then(check) : check(r);
        },
        dispose() {
          const i = k.kernel;
          if (poolRef && !(poolRef as { destroyed?: boolean }).destroyed) {
            for (const e of i._moduleCache.values()) if (e.shared) poolRef.release(e.id);
          }
          i._pool = null;
          for (const e of i._moduleCache.values()) e.shared = false;
          i.destroy();
        },
      };
      paths.set(wk, () => k.kernel._lastRunPath ?? null);
      return wk;
    },
    lastRunPath: (k) => paths.get(k)?.() ?? null,
  };
  return loaded;
}

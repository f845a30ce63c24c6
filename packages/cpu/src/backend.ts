/**
 * The CPU backend: lowers a Plan once into kernels over fixed typed arrays (one ArrayBuffer per
 * memory-plan slot, temps viewing it in their dtype), keeps parameters resident across runs and
 * Programs, and on each run copies feeds in, runs the kernels in order, copies only the fetches
 * out and finally applies assigns.
 */
import {
  type AssignStep, type Backend, type BackendStats, BackendUnavailableError, DisposedError, type DType,
  FeedError, GraphError, type Plan, type PlanBuffer, type PlanOperand, type Program, type ProfileEntry,
  type ProgramRunResult, type TypedArray,
} from '@kiln/core';
import { createGemmEngine, type GemmCall, type GemmEngine, gemmThreads, type GemmPolicy } from './gemm';
import { acquireWebasmPool, loadGpuJs } from './gpujs';
import { BYTES, type Kernel, type LowerContext } from './kernel';
import { lowerElementwise } from './kernels/elementwise';
import { lowerPacked } from './kernels/fused';
import { lowerOp } from './kernels/index';
import { wasmFeatures } from './wasm/gemm';

export type CpuMode = 'auto' | 'wasm' | 'cpu' | 'webasm';

export interface CpuBackendOptions {
  /**
   * Which formulation runs the GEMMs behind matmul and convolution:
   *  - 'auto' (default): 'wasm' where the runtime has WebAssembly SIMD, 'cpu' otherwise;
   *  - 'wasm': the WebAssembly SIMD GEMM (packed panels, 4x8 register tiles, worker threads
   *    on a shared memory under Node); BackendUnavailableError without SIMD;
   *  - 'cpu': generated JavaScript everywhere (4x4 register-tiled GEMM), the no-SIMD path;
   *  - 'webasm': GEMMs as gpu.js webasm kernels (kept to compare; Node only).
   * Elementwise, reductions and movement are generated JavaScript in every mode (see README).
   */
  mode?: CpuMode;
  /**
   * Threads per GEMM, the calling one included: true (default) = every core, false or 1 = the
   * single-threaded path, a number = that many (at most 16). KILN_CPU_THREADS=n sets the
   * default. Threads need Node's worker_threads; a page runs one.
   */
  threads?: boolean | number;
  /** false: act as a runtime without WebAssembly SIMD ('auto' runs JavaScript GEMMs). */
  simd?: boolean;
  /** Least work (flops) per thread before a GEMM is split (default 2^20); 0 splits every GEMM (tests). */
  minFlopsPerThread?: number;
}

export type CpuBackend = Backend & { readonly name: 'cpu'; readonly mode: CpuMode; readonly gemm: GemmEngine };

function storage(dtype: DType, n: number, buffer?: ArrayBuffer): TypedArray {
  if (buffer) return dtype === 'f32' ? new Float32Array(buffer, 0, n) : dtype === 'i32' ? new Int32Array(buffer, 0, n) : new Uint8Array(buffer, 0, n);
  return dtype === 'f32' ? new Float32Array(n) : dtype === 'i32' ? new Int32Array(n) : new Uint8Array(n);
}

function copyOf(a: TypedArray): TypedArray {
  return a.slice() as TypedArray;
}

interface Param { dtype: DType; data: TypedArray }

class CpuProgram implements Program {
  private disposed = false;
  private readonly views = new Map<number, TypedArray>();
  private readonly kernels: Kernel[] = [];
  private readonly assigns: (() => void)[] = [];
  /** One GEMM call per shape (see the constructor). */
  private readonly gemmCalls = new Map<string, GemmCall>();
  /** Names of the resident params this program holds arrays of. */
  readonly paramNames = new Set<string>();
  bytes = 0;

  constructor(private readonly backend: CpuBackendImpl, private readonly plan: Plan) {
    const slots = plan.slots.map((b) => new ArrayBuffer(Math.max(4, b)));
    this.bytes += plan.slots.reduce((a, b) => a + Math.max(4, b), 0);
    for (const b of plan.buffers.values()) this.views.set(b.id, this.allocate(b, slots));
    // NOTE: a program's kernels run one at a time and keep nothing in scratch memory or a GEMM
    // call between runs, so kernels of one shape share them: the T steps of an unrolled loop
    // hold one GEMM call (its transpose buffers; in 'webasm' mode a gpu.js kernel with its
    // WebAssembly memory) and one scratch array, not T. Within one kernel's lowering every
    // scratch request gets an array of its own.
    const scratch = new Map<string, (Float32Array | Float64Array)[]>();
    const taken = new Map<string, number>();
    const shared = (bytes: 4 | 8, n: number): Float32Array | Float64Array => {
      const key = `${bytes}:${n}`;
      const list = scratch.get(key) ?? [];
      scratch.set(key, list);
      const k = taken.get(key) ?? 0;
      taken.set(key, k + 1);
      if (k === list.length) {
        list.push(bytes === 4 ? new Float32Array(n) : new Float64Array(n));
        this.bytes += bytes * n;
      }
      return list[k]!;
    };
    const ctx: LowerContext = {
      view: (op) => this.view(typeof op === 'number' ? op : op.buf),
      scratchF32: (n) => shared(4, n) as Float32Array,
      scratchF64: (n) => shared(8, n) as Float64Array,
      gemm: {
        formulation: (m, k, n) => backend.gemm.formulation(m, k, n),
        prepare: (m, k, n) => {
          const key = `${m},${k},${n}`;
          let call = this.gemmCalls.get(key);
          if (!call) {
            call = backend.gemm.prepare(m, k, n);
            this.bytes += call.bytes;
            this.gemmCalls.set(key, call);
          }
          return { ...call, dispose: () => {} }; // disposed with the program
        },
        dispose: () => {},
      },
    };
    try {
      for (const step of plan.steps) {
        taken.clear();
        if (step.kind === 'elementwise') this.kernels.push(lowerElementwise(step, ctx));
        else if (step.kind === 'packed') this.kernels.push(lowerPacked(step, ctx));
        else if (step.kind === 'op') {
          this.kernels.push(lowerOp(step, ctx));
        } else this.lowerAssign(step);
      }
    } catch (e) {
      this.dispose();
      throw e;
    }
  }

  private allocate(b: PlanBuffer, slots: ArrayBuffer[]): TypedArray {
    switch (b.kind) {
      case 'temp': {
        if (b.slot === undefined) { this.bytes += BYTES * b.size; return storage(b.dtype, b.size); }
        const slot = slots[b.slot];
        if (!slot || slot.byteLength < b.size * (b.dtype === 'bool' ? 1 : 4)) throw new GraphError(`cpu backend: temp buffer ${b.id} (${b.size} x ${b.dtype}) does not fit its slot ${b.slot}`);
        return storage(b.dtype, b.size, slot);
      }
      case 'param':
        this.paramNames.add(b.name ?? `#${b.id}`);
        return this.backend.paramFor(b);
      case 'const': {
        const a = storage(b.dtype, b.size);
        if (b.data) a.set(b.data.length === b.size ? b.data : Array.from({ length: b.size }, (_, i) => b.data![b.data!.length === 1 ? 0 : i]!));
        this.bytes += BYTES * b.size;
        return a;
      }
      case 'feed':
        this.bytes += BYTES * b.size;
        return storage(b.dtype, b.size);
    }
  }

  private view(buf: number): TypedArray {
    const v = this.views.get(buf);
    if (!v) throw new GraphError(`cpu backend: plan has no buffer ${buf}`);
    return v;
  }

  /**
   * Assigns write params after the run, after the fetches are copied out (a fetched param shows
   * its value before the update). Lowering made each a plain copy of equal size.
   */
  private lowerAssign(step: AssignStep): void {
    const dst = this.view(step.dst.buf);
    const at = step.srcOffset ?? 0;
    const src = this.view(step.src.buf).subarray(at, at + dst.length);
    this.assigns.push(() => dst.set(src as never));
  }

  /** Runs come one at a time (the Executable queues them), with feeds core has checked. */
  async run(feeds: ReadonlyMap<number, TypedArray>, fetch: readonly number[], options: { step: number; profile?: boolean }): Promise<ProgramRunResult> {
    if (this.disposed) throw new DisposedError('cpu backend: this program was disposed');
    for (const f of this.plan.feeds) this.view(f.buf).set(feeds.get(f.buf)! as never);
    const fetchViews = fetch.map((id) => [id, this.view(id)] as const);
    const step = options.step >>> 0;
    const profile: ProfileEntry[] | undefined = options.profile ? [] : undefined;
    for (const k of this.kernels) {
      const t0 = profile ? performance.now() : 0;
      const r = k.run(step);
      if (r) await r;
      if (profile) profile.push({ kernel: k.name, ops: k.ops, shapes: k.shapes, ms: performance.now() - t0, bytes: k.bytes, flops: k.flops });
    }
    const outputs = new Map<number, TypedArray>();
    for (const [id, v] of fetchViews) outputs.set(id, copyOf(v));
    for (const a of this.assigns) a();
    this.backend.stats.submissions++;
    return profile ? { outputs, profile, profileGranularity: 'kernel' } : { outputs };
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const k of this.kernels) k.dispose?.();
    for (const c of this.gemmCalls.values()) c.dispose();
    this.gemmCalls.clear();
    this.kernels.length = 0;
    this.assigns.length = 0; // their closures hold the slot and param arrays
    this.views.clear();
    this.backend.release(this);
  }
}

class CpuBackendImpl implements CpuBackend {
  readonly name = 'cpu' as const;
  readonly stats: BackendStats = { submissions: 0, allocatedBytes: 0 };
  readonly maxBufferBytes = 2 ** 31 - 4;
  readonly description: string;
  private readonly params = new Map<string, Param>();
  private readonly programs = new Set<CpuProgram>();
  private disposed = false;

  constructor(readonly mode: CpuMode, readonly gemm: GemmEngine, description: string, private readonly releasePool: () => void) {
    this.description = description;
  }

  private alive(): void {
    if (this.disposed) throw new DisposedError('cpu backend: used after dispose()');
  }

  async lower(plan: Plan): Promise<Program> {
    this.alive();
    const p = new CpuProgram(this, plan);
    this.programs.add(p);
    this.stats.allocatedBytes += p.bytes;
    return p;
  }

  release(p: CpuProgram): void {
    if (this.programs.delete(p)) this.stats.allocatedBytes -= p.bytes;
  }

  /** The resident array of a param buffer; created zero-filled if the plan names it first. */
  paramFor(b: PlanBuffer): TypedArray {
    const name = b.name ?? `#${b.id}`;
    let p = this.params.get(name);
    if (!p) {
      p = { dtype: b.dtype, data: storage(b.dtype, b.size) };
      this.params.set(name, p);
      this.stats.allocatedBytes += BYTES * b.size;
    }
    if (p.dtype !== b.dtype || p.data.length !== b.size) {
      throw new GraphError(`cpu backend: param '${name}' is ${p.dtype}[${p.data.length}] on the backend but the plan wants ${b.dtype}[${b.size}]`);
    }
    return p.data;
  }

  createParam(name: string, dtype: DType, init: TypedArray): void {
    this.alive();
    const p = this.params.get(name);
    if (p && p.dtype === dtype && p.data.length === init.length) {
      p.data.set(init as never); // in place: lowered programs hold this array
      return;
    }
    if (p) {
      if ([...this.programs].some((q) => q.paramNames.has(name))) {
        throw new GraphError(`cpu backend: param '${name}' changes from ${p.dtype}[${p.data.length}] to ${dtype}[${init.length}] while a compiled program uses it`);
      }
      this.stats.allocatedBytes -= BYTES * p.data.length;
    }
    const data = storage(dtype, init.length);
    data.set(init as never);
    this.params.set(name, { dtype, data });
    this.stats.allocatedBytes += BYTES * init.length;
  }

  async readParam(name: string): Promise<TypedArray> {
    this.alive();
    const p = this.params.get(name);
    if (!p) throw new GraphError(`cpu backend: no parameter named '${name}'`);
    return copyOf(p.data);
  }

  writeParam(name: string, data: TypedArray): void {
    this.alive();
    const p = this.params.get(name);
    if (!p) throw new GraphError(`cpu backend: no parameter named '${name}'`);
    if (data.length !== p.data.length) throw new FeedError(`cpu backend: parameter '${name}' has ${p.data.length} elements, got ${data.length}`);
    p.data.set(data as never);
  }

  deleteParam(name: string): void {
    const p = this.params.get(name);
    if (!p) return;
    // A live program keeps its array (it stays valid for it); the backend forgets the name.
    this.params.delete(name);
    this.stats.allocatedBytes -= BYTES * p.data.length;
  }

  dispose(): void {
    if (this.disposed) return;
    for (const p of [...this.programs]) p.dispose();
    this.params.clear();
    this.gemm.dispose();
    this.releasePool();
    this.stats.allocatedBytes = 0;
    this.disposed = true;
  }
}

/**
 * Create the CPU backend (the fallback where WebGPU is unavailable).
 *
 * @example
 * const backend = await createCpuBackend();          // mode 'auto'
 * const exe = await compileWith(graph, backend);
 */
export async function createCpuBackend(options: CpuBackendOptions = {}): Promise<CpuBackend> {
  const mode = options.mode ?? 'auto';
  if (!['auto', 'wasm', 'cpu', 'webasm'].includes(mode)) throw new BackendUnavailableError(`cpu backend: unknown mode '${mode}' (expected 'auto', 'wasm', 'cpu' or 'webasm')`);
  const simd = options.simd !== false && wasmFeatures().simd;
  if (mode === 'wasm' && !simd) throw new BackendUnavailableError("cpu backend: mode 'wasm' needs WebAssembly SIMD, which this runtime does not have; use mode 'cpu'");
  const policy: GemmPolicy = mode === 'cpu' ? 'js' : mode === 'webasm' ? 'webasm' : simd ? 'wasm' : 'js';
  let detail = 'JavaScript kernels';
  let releasePool = () => {};
  if (policy === 'webasm') {
    try {
      const g = loadGpuJs();
      const threads = options.threads !== false && options.threads !== 1 && g.threads;
      detail = `gpu.js ${g.version} webasm GEMMs (${g.simd ? 'f32x4 SIMD' : 'scalar'}${threads ? ', worker threads' : ''}), JavaScript elsewhere`;
      releasePool = acquireWebasmPool();
    } catch (e) {
      throw new BackendUnavailableError(`cpu backend: mode 'webasm' is unavailable here: ${(e as Error).message}`);
    }
  }
  const { threads, minFlopsPerThread } = options;
  const gemm = createGemmEngine(policy, { ...(threads !== undefined ? { threads } : {}), ...(minFlopsPerThread !== undefined ? { minFlopsPerThread } : {}) });
  if (policy === 'wasm') {
    const t = gemmThreads(options.threads);
    detail = `WebAssembly ${wasmFeatures().relaxed ? 'relaxed ' : ''}SIMD GEMMs${t > 1 && wasmFeatures().threads ? ` on ${t} threads` : ''}, JavaScript elsewhere`;
  }
  return new CpuBackendImpl(mode, gemm, `cpu (${mode}): ${detail}`, releasePool);
}

export type { PlanOperand };

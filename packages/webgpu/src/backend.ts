/**
 * The WebGPU backend: resident parameters, pipeline and layout caches keyed by WGSL source and
 * binding signature (shared by every backend on the device), and the fault state: a lost device or an uncaptured error poisons the
 * backend, and every pending and later run rejects with DeviceLostError (never zeros). The
 * device itself belongs to the process and is shared by every backend (gpu.ts says why); a
 * backend owns only the buffers it allocated.
 */
import {
  type Backend, type BackendLimits, type BackendStats, BackendUnavailableError, DeviceLostError, DisposedError, type DType, FeedError,
  GraphError, KernelCompileError, MIN_STORAGE_BUFFERS, OptionsError, type Plan, type Program, type TypedArray,
} from '@kiln/core';
import { acquireDevice, type AdapterChoice, describeAdapter, type SharedDevice } from './gpu';
import { createPipeline, type DeviceTraits, scoped } from './kernel';
import { fromWords, roundUp, toWords, WebGPUProgram } from './program';

export interface WebGPUBackendOptions extends AdapterChoice {
  /** Profile every run (per-dispatch timestamps where the adapter has 'timestamp-query'). */
  profile?: boolean;
  /**
   * GEMM kernel family for matmul and convolutions. 'auto' (default): 'subgroup' on CPU-emulated
   * (fallback) adapters with a fixed subgroup size, 'tiled' elsewhere.
   */
  gemm?: 'auto' | 'tiled' | 'subgroup';
  /** Override the subgroup GEMM's register block (tuning experiments). */
  gemmTiles?: DeviceTraits['gemmTiles'];
  /**
   * Bind at most this many storage buffers per kernel, below the device's own limit: to compile
   * here what a device with a lower limit (8 guaranteed by WebGPU, 10 in Chromium) can run.
   * Default: the device's maxStorageBuffersPerShaderStage.
   */
  maxStorageBuffersPerShaderStage?: number;
}

interface Param {
  readonly dtype: DType;
  readonly size: number;
  readonly buffer: GPUBuffer;
  readonly users: Set<WebGPUProgram>;
}

type Access = 'read' | 'read_write' | 'uniform';
type Layouts = { layout: GPUPipelineLayout; bindGroupLayout: GPUBindGroupLayout };

/**
 * Pipelines (by layout signature and WGSL) and layouts (by signature) per device, shared by every
 * backend on it: the device outlives backends (gpu.ts), and compile() makes a backend per
 * Executable, so a second Executable of the same model compiles no pipeline again. A lost
 * device's caches go with it (a WeakMap). Pipelines are small and a process compiles a bounded
 * set of kernels, so entries are kept.
 */
const deviceCaches = new WeakMap<GPUDevice, { pipelines: Map<string, Promise<GPUComputePipeline>>; layouts: Map<string, Promise<Layouts>> }>();

export class WebGPUBackend implements Backend {
  readonly name = 'webgpu' as const;
  readonly stats: BackendStats = { submissions: 0, allocatedBytes: 0 };
  readonly maxBufferBytes: number;
  readonly traits: DeviceTraits;
  /** What lowering must respect: fusion keeps every kernel within these bindings. */
  readonly limits: BackendLimits;
  /** Per-dispatch timestamps are available. */
  readonly timestamps: boolean;
  private readonly params = new Map<string, Param>();
  /** Params deleted while a program still binds them: freed with their last user. */
  private readonly orphans = new Set<Param>();
  private readonly programs = new Set<WebGPUProgram>();
  /** The device's caches, shared with every backend (and so every Executable) on the device. */
  private readonly pipelines: Map<string, Promise<GPUComputePipeline>>;
  private readonly layouts: Map<string, Promise<Layouts>>;
  private readonly sizes = new Map<GPUBuffer, number>();
  private disposed = false;
  /** The first device failure; every later use throws it (see poison). */
  private lostError: DeviceLostError | undefined;
  readonly adapter: GPUAdapter;
  /** The process's shared device (gpu.ts): never destroyed by the backend. */
  readonly device: GPUDevice;
  private readonly detach: () => void;

  constructor(shared: SharedDevice, readonly description: string, readonly profileAll: boolean, gemm: 'auto' | 'tiled' | 'subgroup', gemmTiles?: DeviceTraits['gemmTiles'], maxStorageBuffers?: number) {
    const { adapter, device } = shared;
    this.adapter = adapter;
    this.device = device;
    let caches = deviceCaches.get(device);
    if (!caches) deviceCaches.set(device, caches = { pipelines: new Map(), layouts: new Map() });
    this.pipelines = caches.pipelines;
    this.layouts = caches.layouts;
    const l = device.limits;
    this.maxBufferBytes = Math.min(l.maxBufferSize, l.maxStorageBufferBindingSize);
    this.timestamps = device.features.has('timestamp-query');
    const info = adapter.info;
    const fixed = device.features.has('subgroups') && info.subgroupMinSize !== undefined && info.subgroupMinSize === info.subgroupMaxSize ? info.subgroupMinSize : 0;
    if (gemm === 'subgroup' && !fixed) throw new OptionsError(`webgpu: gemm 'subgroup' needs the 'subgroups' feature with a fixed subgroup size; this adapter has ${device.features.has('subgroups') ? `sizes ${info.subgroupMinSize}..${info.subgroupMaxSize}` : 'no subgroups'}`);
    this.traits = {
      maxWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
      maxInvocationsPerWorkgroup: l.maxComputeInvocationsPerWorkgroup,
      maxWorkgroupStorageSize: l.maxComputeWorkgroupStorageSize,
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxStorageBuffersPerShaderStage: Math.min(l.maxStorageBuffersPerShaderStage, maxStorageBuffers ?? Infinity),
      subgroupSize: fixed,
      cpuLike: !!info.isFallbackAdapter,
      gemm: gemm === 'auto' ? (fixed && info.isFallbackAdapter ? 'subgroup' : 'tiled') : gemm,
      ...(gemmTiles ? { gemmTiles } : {}),
    };
    this.limits = { maxStorageBuffersPerShaderStage: this.traits.maxStorageBuffersPerShaderStage };
    this.detach = shared.attach({
      lost: (message) => { if (!this.disposed) this.poison(new DeviceLostError(message)); },
      uncaptured: (message) => { this.poison(new DeviceLostError(message)); },
    });
  }

  /** Record the first fault; every later run rejects with it. Returns the recorded error. */
  poison(e: DeviceLostError): DeviceLostError {
    this.lostError ??= e;
    return this.lostError;
  }

  ensureUsable(): void {
    if (this.disposed) throw new DisposedError('webgpu: backend used after dispose()');
    if (this.lostError) throw this.lostError;
  }

  // ---- device memory (every byte counted in stats.allocatedBytes)

  allocate(bytes: number, usage: number, label: string): GPUBuffer {
    const size = roundUp(bytes);
    const b = this.device.createBuffer({ size, usage, label });
    this.sizes.set(b, size);
    this.stats.allocatedBytes += size;
    return b;
  }

  free(b: GPUBuffer): void {
    const size = this.sizes.get(b);
    if (size === undefined) return;
    this.sizes.delete(b);
    this.stats.allocatedBytes -= size;
    b.destroy();
  }

  // ---- compiling

  async lower(plan: Plan): Promise<Program> {
    this.ensureUsable();
    const p = await WebGPUProgram.create(this, plan);
    if (this.disposed) {
      p.dispose();
      throw new DisposedError('webgpu: backend disposed while compiling');
    }
    this.programs.add(p);
    return p;
  }

  /** Pipelines are cached by layout and WGSL source (per device); the kernel's variant key is the label. */
  pipeline(source: string, label: string, layout: GPUPipelineLayout, op: string): Promise<GPUComputePipeline> {
    const key = `${layout.label}\n${source}`;
    let p = this.pipelines.get(key);
    if (!p) {
      p = createPipeline(this.device, layout, source, label, op);
      this.pipelines.set(key, p);
      p.catch(() => this.pipelines.delete(key));
    }
    return p;
  }

  /**
   * The layouts of a binding signature, cached; created in an error scope of their own (kernel.ts
   * `scoped`), so that an invalid layout fails its own kernel with a KernelCompileError and no other.
   */
  layoutFor(access: readonly Access[], kernel: string, op: string): Promise<Layouts> {
    const sig = access.join(',');
    let l = this.layouts.get(sig);
    if (!l) {
      const type = (a: Access): GPUBufferBindingType => (a === 'read' ? 'read-only-storage' : a === 'uniform' ? 'uniform' : 'storage');
      const { value, error } = scoped(this.device, () => {
        const bindGroupLayout = this.device.createBindGroupLayout({
          label: sig,
          entries: access.map((a, binding) => ({ binding, visibility: GPUShaderStage.COMPUTE, buffer: { type: type(a) } })),
        });
        return { bindGroupLayout, layout: this.device.createPipelineLayout({ label: sig, bindGroupLayouts: [bindGroupLayout] }) };
      });
      const made = error.then((e) => {
        if (e) throw new KernelCompileError(`webgpu: kernel '${kernel}' for ${op}: its bind group layout (${access.length} bindings: ${sig}) is invalid: ${e.message}`, op);
        return value;
      });
      l = made;
      this.layouts.set(sig, made);
      made.catch(() => { if (this.layouts.get(sig) === made) this.layouts.delete(sig); });
    }
    return l;
  }

  forget(p: WebGPUProgram): void {
    this.programs.delete(p);
    for (const param of [...this.params.values(), ...this.orphans]) param.users.delete(p);
    for (const o of [...this.orphans]) {
      if (o.users.size === 0) {
        this.orphans.delete(o);
        this.free(o.buffer);
      }
    }
  }

  // ---- resident parameters

  /** The buffer of a param a plan binds; created zero-filled if the plan names it first. */
  paramBuffer(name: string, dtype: DType, size: number, user: WebGPUProgram): GPUBuffer {
    let p = this.params.get(name);
    if (!p) {
      p = { dtype, size, buffer: this.allocate(size * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, `param '${name}'`), users: new Set() };
      this.params.set(name, p);
    }
    if (p.dtype !== dtype || p.size !== size) throw new GraphError(`webgpu: param '${name}' is ${p.dtype}[${p.size}] on the backend but the plan wants ${dtype}[${size}]`);
    p.users.add(user);
    return p.buffer;
  }

  createParam(name: string, dtype: DType, init: TypedArray): void {
    this.ensureUsable();
    const p = this.params.get(name);
    if (p && p.dtype === dtype && p.size === init.length) {
      this.writeParam(name, init);
      return;
    }
    if (p) {
      if (p.users.size) throw new GraphError(`webgpu: param '${name}' changes from ${p.dtype}[${p.size}] to ${dtype}[${init.length}] while a compiled program uses it`);
      this.free(p.buffer);
    }
    const buffer = this.allocate(init.length * 4, GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST, `param '${name}'`);
    if (init.length) this.device.queue.writeBuffer(buffer, 0, toWords(init));
    this.params.set(name, { dtype, size: init.length, buffer, users: new Set() });
  }

  async readParam(name: string): Promise<TypedArray> {
    this.ensureUsable();
    const p = this.params.get(name);
    if (!p) throw new GraphError(`webgpu: no parameter named '${name}'`);
    if (p.size === 0) return fromWords(new ArrayBuffer(0), p.dtype, 0);
    const bytes = p.size * 4;
    const staging = this.allocate(bytes, GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST, `read '${name}'`);
    try {
      const encoder = this.device.createCommandEncoder();
      encoder.copyBufferToBuffer(p.buffer, 0, staging, 0, bytes);
      this.device.queue.submit([encoder.finish()]);
      this.stats.submissions++;
      try {
        await staging.mapAsync(GPUMapMode.READ, 0, bytes);
      } catch (e) {
        throw this.poison(new DeviceLostError(`webgpu: reading param '${name}' failed: ${(e as Error).message}`));
      }
      this.ensureUsable();
      const out = fromWords(staging.getMappedRange(0, bytes).slice(0), p.dtype, p.size);
      staging.unmap();
      return out;
    } finally {
      this.free(staging);
    }
  }

  writeParam(name: string, data: TypedArray): void {
    this.ensureUsable();
    const p = this.params.get(name);
    if (!p) throw new GraphError(`webgpu: no parameter named '${name}'`);
    if (data.length !== p.size) throw new FeedError(`webgpu: parameter '${name}' has ${p.size} elements, got ${data.length}`);
    if (p.size) this.device.queue.writeBuffer(p.buffer, 0, toWords(data));
  }

  deleteParam(name: string): void {
    const p = this.params.get(name);
    if (!p) return;
    this.params.delete(name);
    if (p.users.size) this.orphans.add(p);
    else this.free(p.buffer);
  }

  async dispose(): Promise<void> {
    if (this.disposed) return;
    for (const p of [...this.programs]) p.dispose();
    for (const p of this.params.values()) this.free(p.buffer);
    for (const p of this.orphans) this.free(p.buffer);
    this.params.clear();
    this.orphans.clear();
    this.disposed = true;
    this.detach();
    this.stats.allocatedBytes = 0;
    // NOTE: no device.destroy(): the device is shared and outlives this backend (gpu.ts).
  }
}

/**
 * Create the WebGPU backend: Dawn's `webgpu` package in Node, `navigator.gpu` in a browser.
 * Fallback (software) adapters such as lavapipe are accepted. Throws BackendUnavailableError,
 * with the reason, when there is no adapter or device.
 *
 * @example
 * const backend = await createWebGPUBackend();
 * const exe = await compileWith(graph, backend);
 * console.log(backend.description); // 'webgpu: mesa / software / llvmpipe ... (fallback adapter)'
 */
export async function createWebGPUBackend(options: WebGPUBackendOptions = {}): Promise<WebGPUBackend> {
  const gemm = options.gemm ?? 'auto';
  if (!['auto', 'tiled', 'subgroup'].includes(gemm)) throw new OptionsError(`webgpu: unknown gemm '${String(gemm)}' (expected 'auto', 'tiled' or 'subgroup')`);
  const cap = options.maxStorageBuffersPerShaderStage;
  if (cap !== undefined && (!Number.isSafeInteger(cap) || cap < MIN_STORAGE_BUFFERS)) throw new OptionsError(`webgpu: maxStorageBuffersPerShaderStage must be an integer >= ${MIN_STORAGE_BUFFERS}, got ${String(cap)}`);
  let shared: SharedDevice;
  try {
    shared = await acquireDevice(options);
  } catch (e) {
    if (e instanceof BackendUnavailableError) throw e;
    throw new BackendUnavailableError(`webgpu: ${(e as Error).message}`);
  }
  return new WebGPUBackend(shared, describeAdapter(shared.adapter), options.profile ?? false, gemm, options.gemmTiles, cap);
}

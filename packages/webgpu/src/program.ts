/**
 * A lowered Plan: device buffers for feeds, constants and memory-plan slots, one pipeline and
 * bind group per dispatch (all built at compile time), and a run() that uploads feeds, encodes
 * every dispatch in one command encoder, submits once and waits once (for the readback of the
 * fetches, or for the queue when nothing is fetched).
 */
import {
  type AssignStep, type BackendStats, DeviceLostError, DisposedError, type DType, GraphError, KernelCompileError, type OpStep,
  type Plan, type PlanBuffer, type PlanOperand, type ProfileEntry, type Program, type ProgramRunResult,
  shapeSize, shapeToString, type TypedArray, UnsupportedError,
} from '@kiln/core';
import { type Binding, type BuildContext, type DeviceTraits, foldGrid, type Kernel, kernelSource, scoped } from './kernel';
import { elementwiseKernel } from './kernels/elementwise';
import { packedKernel } from './kernels/fused';
import { lowerOp } from './kernels/index';

interface Dispatch {
  readonly kernel: Kernel;
  readonly pipeline: GPUComputePipeline;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number, number];
}

const BYTES = 4;
/** Buffer sizes are rounded up so that any binding may be read as vec4. */
export const roundUp = (bytes: number): number => Math.max(16, Math.ceil(bytes / 16) * 16);

/** Host data as the 32-bit words the device stores (bool: u32 0/1). */
export function toWords(a: TypedArray): Float32Array | Int32Array | Uint32Array {
  return a instanceof Uint8Array ? Uint32Array.from(a) : a;
}

/** Device words back to the host array of a dtype. */
export function fromWords(bytes: ArrayBuffer, dtype: DType, n: number): TypedArray {
  if (dtype === 'f32') return new Float32Array(bytes, 0, n);
  if (dtype === 'i32') return new Int32Array(bytes, 0, n);
  return Uint8Array.from(new Uint32Array(bytes, 0, n));
}

/**
 * What a Program needs from its backend: device memory, pipelines and resident params, the
 * device's facts, and its fault state. The backend implements it; a program reaches no further
 * into the backend (and program.ts imports nothing from backend.ts).
 */
export interface ProgramHost {
  readonly device: GPUDevice;
  readonly traits: DeviceTraits;
  readonly stats: BackendStats;
  /** Profile every run, not only those asked to. */
  readonly profileAll: boolean;
  /** Per-dispatch timestamps are available. */
  readonly timestamps: boolean;
  allocate(bytes: number, usage: number, label: string): GPUBuffer;
  free(b: GPUBuffer): void;
  /** A compiled pipeline, cached by source. */
  pipeline(source: string, label: string, layout: GPUPipelineLayout, op: string): Promise<GPUComputePipeline>;
  /** The layouts of a binding signature; rejects with a KernelCompileError naming `kernel` when the device refuses them. */
  layoutFor(access: readonly Binding['access'][], kernel: string, op: string): Promise<{ layout: GPUPipelineLayout; bindGroupLayout: GPUBindGroupLayout }>;
  /** The resident buffer of a param, bound by `user` until it is disposed. */
  paramBuffer(name: string, dtype: DType, size: number, user: WebGPUProgram): GPUBuffer;
  /** A disposed program lets go of its params. */
  forget(p: WebGPUProgram): void;
  /** Throws if the backend was disposed or the device failed. */
  ensureUsable(): void;
  /** Record a device failure (the first one sticks) and return the error to throw. */
  poison(e: DeviceLostError): DeviceLostError;
}

/** The staging buffer of a run: each fetch at its offset, then the timestamps. */
interface ReadbackLayout {
  readonly reads: readonly { readonly b: PlanBuffer; readonly at: number }[];
  readonly queryAt: number;
  readonly bytes: number;
  readonly staging: GPUBuffer | undefined;
}

export class WebGPUProgram implements Program {
  private disposed = false;
  private readonly bufs = new Map<number, GPUBuffer>();
  private readonly owned: GPUBuffer[] = [];
  private readonly scratch: GPUBuffer[] = [];
  private readonly main: Dispatch[] = [];
  private readonly assignCopies: { src: GPUBuffer; srcOffset: number; dst: GPUBuffer; bytes: number }[] = [];
  private stepBuffer: GPUBuffer | undefined;
  private staging: GPUBuffer | undefined;
  private querySet: GPUQuerySet | undefined;
  private resolveBuffer: GPUBuffer | undefined;
  /** Names of the resident params this program binds. */
  readonly paramNames = new Set<string>();

  private constructor(private readonly backend: ProgramHost, private readonly plan: Plan) {}

  static async create(backend: ProgramHost, plan: Plan): Promise<WebGPUProgram> {
    const p = new WebGPUProgram(backend, plan);
    try {
      await p.lower();
    } catch (e) {
      p.dispose();
      throw e;
    }
    return p;
  }

  private get device(): GPUDevice { return this.backend.device; }

  private alloc(bytes: number, label: string, usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST): GPUBuffer {
    const b = this.backend.allocate(roundUp(bytes), usage, label);
    this.owned.push(b);
    return b;
  }

  private async lower(): Promise<void> {
    const plan = this.plan;
    this.checkSizes();
    const slots = plan.slots.map((bytes, i) => this.alloc(bytes, `slot ${i}`));
    for (const b of plan.buffers.values()) this.bufs.set(b.id, this.bufferFor(b, slots));

    const ctx: BuildContext = {
      traits: this.backend.traits,
      scratch: (bytes) => {
        this.scratch.push(this.alloc(bytes, `scratch ${this.scratch.length}`));
        return this.scratch.length - 1;
      },
    };
    const mainKernels: Kernel[] = [];
    for (const step of plan.steps) {
      // An empty output has nothing to compute (and its index math would divide by a zero dim).
      if (step.kind !== 'assign' && shapeSize(step.out.shape) === 0) continue;
      if (step.kind === 'elementwise') mainKernels.push(elementwiseKernel(step));
      else if (step.kind === 'packed') mainKernels.push(packedKernel(step));
      else if (step.kind === 'op') {
        mainKernels.push(...lowerOp(step, ctx));
      } else this.lowerAssign(step);
    }
    mainKernels.forEach((k) => this.checkBindings(k));
    if (mainKernels.some((k) => k.bindings.some((b) => 'step' in b.target))) {
      this.stepBuffer = this.alloc(16, 'run counter', GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
    }
    this.main.push(...await Promise.all(mainKernels.map((k) => this.dispatchFor(k))));
  }

  /**
   * Refuse, before any device work, a kernel binding more buffers than a shader stage may:
   * fusion keeps elementwise kernels within the limit (Backend.limits); this catches any kernel
   * that does not, with its name, rather than a validation error from the device.
   */
  private checkBindings(k: Kernel): void {
    const storage = k.bindings.filter((b) => b.access !== 'uniform').length;
    const uniform = k.bindings.length - storage;
    const maxStorage = this.backend.traits.maxStorageBuffersPerShaderStage;
    const maxUniform = this.device.limits.maxUniformBuffersPerShaderStage;
    const op = k.ops.join('+') || k.name;
    if (storage > maxStorage) throw new KernelCompileError(`webgpu: kernel '${k.key}' for ${op} binds ${storage} storage buffers, more than maxStorageBuffersPerShaderStage (${maxStorage})`, op);
    if (uniform > maxUniform) throw new KernelCompileError(`webgpu: kernel '${k.key}' for ${op} binds ${uniform} uniform buffers, more than maxUniformBuffersPerShaderStage (${maxUniform})`, op);
  }

  /** Refuse, before anything runs, any tensor the device cannot hold or bind. */
  private checkSizes(): void {
    const { maxBufferSize, maxStorageBufferBindingSize } = this.device.limits;
    const check = (o: PlanOperand, ops: readonly string[]) => {
      const bytes = shapeSize(o.shape) * BYTES;
      const b = this.plan.buffers.get(o.buf);
      const what = `tensor ${b?.name ? `'${b.name}' ` : ''}#${o.buf} (${o.dtype}${shapeToString(o.shape)}, ${bytes} bytes) of ${ops.join('+')}`;
      if (bytes > maxBufferSize) throw new UnsupportedError(`webgpu: ${what} exceeds maxBufferSize (${maxBufferSize} bytes) of this adapter`);
      if (bytes > maxStorageBufferBindingSize) throw new UnsupportedError(`webgpu: ${what} exceeds maxStorageBufferBindingSize (${maxStorageBufferBindingSize} bytes) of this adapter`);
    };
    for (const s of this.plan.steps) {
      if (s.kind === 'assign') { check(s.src, s.ops); check(s.dst, s.ops); continue; }
      s.inputs.forEach((i) => check(i, s.ops));
      if (s.kind === 'op') s.epilogue?.inputs.forEach((i) => check(i, s.ops));
      check(s.out, s.ops);
    }
    for (const f of this.plan.fetches) check(f.operand, ['fetch']);
    this.plan.slots.forEach((bytes, i) => {
      if (bytes > maxStorageBufferBindingSize) throw new UnsupportedError(`webgpu: memory slot ${i} (${bytes} bytes) exceeds maxStorageBufferBindingSize (${maxStorageBufferBindingSize} bytes)`);
    });
  }

  private bufferFor(b: PlanBuffer, slots: GPUBuffer[]): GPUBuffer {
    switch (b.kind) {
      case 'temp':
        if (b.slot === undefined) return this.alloc(b.size * BYTES, `temp #${b.id}`);
        if (!slots[b.slot]) throw new GraphError(`webgpu: temp #${b.id} names slot ${b.slot}, the plan has ${slots.length}`);
        if (slots[b.slot]!.size < b.size * BYTES) throw new GraphError(`webgpu: temp #${b.id} (${b.size * BYTES} bytes) does not fit slot ${b.slot} (${this.plan.slots[b.slot]} bytes)`);
        return slots[b.slot]!;
      case 'param': {
        const name = b.name ?? `#${b.id}`;
        this.paramNames.add(name);
        return this.backend.paramBuffer(name, b.dtype, b.size, this);
      }
      case 'feed':
        return this.alloc(b.size * BYTES, `feed '${b.name}'`);
      case 'const': {
        const buf = this.alloc(b.size * BYTES, `constant #${b.id}`);
        if (b.data && b.size) {
          const src = b.data.length === b.size ? b.data : Array.from({ length: b.size }, (_, i) => b.data![b.data!.length === 1 ? 0 : i]!);
          const words = b.dtype === 'f32' ? Float32Array.from(src) : b.dtype === 'i32' ? Int32Array.from(src) : Uint32Array.from(src, (v) => (v ? 1 : 0));
          this.device.queue.writeBuffer(buf, 0, words);
        }
        return buf;
      }
    }
  }

  /**
   * Assigns are buffer copies after every step and after the fetches are copied out (a fetched
   * param shows its value before the update); lowering made each a plain copy of equal size.
   */
  private lowerAssign(step: AssignStep): void {
    const src = this.bufs.get(step.src.buf)!, dst = this.bufs.get(step.dst.buf)!;
    const bytes = shapeSize(step.dst.shape) * BYTES;
    if (bytes > 0) this.assignCopies.push({ src, srcOffset: (step.srcOffset ?? 0) * BYTES, dst, bytes });
  }

  private async dispatchFor(k: Kernel): Promise<Dispatch> {
    const op = k.ops.join('+') || k.name;
    const { layout, bindGroupLayout } = await this.backend.layoutFor(k.bindings.map((b) => b.access), k.key, op);
    const pipeline = await this.backend.pipeline(kernelSource(k), k.key, layout, op);
    let uniforms: GPUBuffer | undefined;
    if (k.uniforms) {
      uniforms = this.alloc(k.uniforms.byteLength, `uniforms of ${k.key}`, GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST);
      this.device.queue.writeBuffer(uniforms, 0, k.uniforms);
    }
    const entries = k.bindings.map((b, binding) => {
      const t = b.target;
      const buffer = 'buf' in t ? this.bufs.get(t.buf) : 'scratch' in t ? this.scratch[t.scratch] : 'uniforms' in t ? uniforms : this.stepBuffer;
      if (!buffer) throw new GraphError(`webgpu: kernel ${k.key} binds a buffer the plan does not have`);
      return { binding, resource: { buffer } };
    });
    const writable = k.bindings.filter((b) => b.access === 'read_write').map((b) => entries[k.bindings.indexOf(b)]!.resource.buffer);
    if (entries.some((e, i) => k.bindings[i]!.access !== 'read_write' && writable.includes(e.resource.buffer))) {
      throw new GraphError(`webgpu: kernel ${k.key} would read and write the same buffer`);
    }
    const { value: bindGroup, error } = scoped(this.device, () => this.device.createBindGroup({ layout: bindGroupLayout, entries, label: k.key }));
    const invalid = await error;
    if (invalid) throw new KernelCompileError(`webgpu: kernel '${k.key}' for ${op}: its bind group is invalid: ${invalid.message}`, op);
    const workgroups = foldGrid(k.grid, this.backend.traits.maxWorkgroupsPerDimension, `kernel ${k.key}`);
    return { kernel: k, pipeline, bindGroup, workgroups };
  }

  /**
   * One run: upload the feeds and the run counter, encode every dispatch, the fetches' readback
   * and the assigns into one command encoder, submit once, wait once. Runs come one at a time
   * (the Executable queues them), with feeds core has checked.
   */
  async run(feeds: ReadonlyMap<number, TypedArray>, fetch: readonly number[], options: { step: number; profile?: boolean }): Promise<ProgramRunResult> {
    if (this.disposed) throw new DisposedError('webgpu: this program was disposed');
    this.backend.ensureUsable();
    const fetches = fetch.map((id) => {
      const b = this.plan.buffers.get(id);
      if (!b) throw new GraphError(`webgpu: fetch of buffer ${id}, which the plan does not have`);
      return b;
    });
    const profile = !!(options.profile || this.backend.profileAll) && this.main.length > 0;
    const timed = profile && this.backend.timestamps;
    this.upload(feeds, options.step);
    const layout = this.readbackLayout(fetches, timed);
    const t0 = performance.now();
    const bytes = await this.submit(layout, timed);
    const wall = performance.now() - t0;
    this.backend.ensureUsable();

    const outputs = new Map<number, TypedArray>();
    for (const { b, at } of layout.reads) outputs.set(b.id, fromWords(b.size ? bytes!.slice(at, at + b.size * BYTES) : new ArrayBuffer(0), b.dtype, b.size));
    if (!profile) return { outputs };
    return { outputs, ...(timed ? this.kernelProfile(bytes!, layout.queryAt) : this.submissionProfile(wall)) };
  }

  private upload(feeds: ReadonlyMap<number, TypedArray>, step: number): void {
    for (const f of this.plan.feeds) {
      const data = feeds.get(f.buf)!;
      if (data.length) this.device.queue.writeBuffer(this.bufs.get(f.buf)!, 0, toWords(data));
    }
    if (this.stepBuffer) this.device.queue.writeBuffer(this.stepBuffer, 0, Uint32Array.of(step >>> 0, 0, 0, 0));
  }

  /** Where each fetch (and, when timed, the timestamps) lands in the staging buffer. */
  private readbackLayout(fetches: readonly PlanBuffer[], timed: boolean): ReadbackLayout {
    let offset = 0;
    const reads = fetches.map((b) => {
      const at = offset;
      offset += b.size * BYTES;
      return { b, at };
    });
    const queryAt = Math.ceil(offset / 8) * 8; // BigUint64Array needs 8-byte alignment
    if (timed) offset = queryAt + this.main.length * 16;
    return { reads, queryAt, bytes: offset, staging: offset > 0 ? this.stagingBuffer(offset) : undefined };
  }

  /** Encode and submit the run inside error scopes; the one wait of the run. Returns the staged bytes. */
  private async submit(layout: ReadbackLayout, timed: boolean): Promise<ArrayBuffer | undefined> {
    const device = this.device;
    const { staging } = layout;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    const encoder = device.createCommandEncoder({ label: 'kiln run' });
    if (timed) {
      const qs = this.timestampQueries();
      this.main.forEach((d, i) => {
        const pass = encoder.beginComputePass({ timestampWrites: { querySet: qs, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 } });
        encode(pass, d);
        pass.end();
      });
    } else if (this.main.length) {
      const pass = encoder.beginComputePass();
      for (const d of this.main) encode(pass, d);
      pass.end();
    }
    for (const { b, at } of layout.reads) if (b.size) encoder.copyBufferToBuffer(this.bufs.get(b.id)!, 0, staging!, at, b.size * BYTES);
    for (const c of this.assignCopies) encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, 0, c.bytes);
    if (timed) {
      encoder.resolveQuerySet(this.querySet!, 0, 2 * this.main.length, this.resolveBuffer!, 0);
      encoder.copyBufferToBuffer(this.resolveBuffer!, 0, staging!, layout.queryAt, this.main.length * 16);
    }
    device.queue.submit([encoder.finish()]);
    this.backend.stats.submissions++;
    const errors = Promise.all([device.popErrorScope(), device.popErrorScope()]);
    try {
      const [errs] = await Promise.all([errors, staging ? staging.mapAsync(GPUMapMode.READ, 0, layout.bytes) : device.queue.onSubmittedWorkDone()]);
      const err = errs.find((e) => e);
      if (err) {
        if (staging) staging.unmap();
        throw this.backend.poison(new DeviceLostError(`webgpu: the device reported ${err.constructor.name}: ${err.message}`));
      }
      if (!staging) return undefined;
      const bytes = staging.getMappedRange(0, layout.bytes).slice(0);
      staging.unmap();
      return bytes;
    } catch (e) {
      if (e instanceof DeviceLostError) throw e;
      throw this.backend.poison(new DeviceLostError(`webgpu: waiting for the run failed: ${(e as Error).message}`));
    }
  }

  /** One entry per dispatch, from its timestamp pair. */
  private kernelProfile(bytes: ArrayBuffer, queryAt: number): Pick<ProgramRunResult, 'profile' | 'profileGranularity'> {
    const ts = new BigUint64Array(bytes, queryAt, 2 * this.main.length);
    const entries: ProfileEntry[] = this.main.map((d, i) => ({
      kernel: d.kernel.name, ops: d.kernel.ops, shapes: d.kernel.shapes,
      ms: Number(ts[2 * i + 1]! - ts[2 * i]!) / 1e6, bytes: d.kernel.bytes, flops: d.kernel.flops,
    }));
    return { profile: entries, profileGranularity: 'kernel' };
  }

  /** Without timestamp queries: the whole submission as one entry. */
  private submissionProfile(wall: number): Pick<ProgramRunResult, 'profile' | 'profileGranularity'> {
    const flops = this.main.reduce((a, d) => a + d.kernel.flops, 0);
    const moved = this.main.reduce((a, d) => a + d.kernel.bytes, 0);
    return { profileGranularity: 'submission', profile: [{ kernel: 'submission', ops: this.main.flatMap((d) => d.kernel.ops), shapes: `${this.main.length} dispatches`, ms: wall, bytes: moved, flops }] };
  }

  private stagingBuffer(bytes: number): GPUBuffer {
    if (this.staging && this.staging.size >= bytes) return this.staging;
    if (this.staging) this.release(this.staging);
    this.staging = this.alloc(bytes, 'readback', GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST);
    return this.staging;
  }

  private timestampQueries(): GPUQuerySet {
    if (!this.querySet) {
      const count = 2 * this.main.length;
      this.querySet = this.device.createQuerySet({ type: 'timestamp', count, label: 'kiln profile' });
      this.resolveBuffer = this.alloc(count * 8, 'profile timestamps', GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC);
    }
    return this.querySet;
  }

  private release(b: GPUBuffer): void {
    const i = this.owned.indexOf(b);
    if (i >= 0) this.owned.splice(i, 1);
    this.backend.free(b);
  }

  /** Dispatches, in order (tests and debugging: which kernels a plan became). */
  get kernels(): readonly Kernel[] {
    return this.main.map((d) => d.kernel);
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const b of this.owned.splice(0)) this.backend.free(b);
    this.querySet?.destroy();
    this.querySet = undefined;
    this.bufs.clear();
    this.backend.forget(this);
  }
}

function encode(pass: GPUComputePassEncoder, d: Dispatch): void {
  pass.setPipeline(d.pipeline);
  pass.setBindGroup(0, d.bindGroup);
  pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1], d.workgroups[2]);
}

export type { OpStep };

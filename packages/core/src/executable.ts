/**
 * compileWith(graph, backend) -> Executable. An Executable specialises the graph per run
 * configuration (symbol bindings, fetch set, train flag), caches the lowered Program, keeps
 * parameters resident in the backend, and validates every run's input before device work.
 */
import { z } from 'zod';
import type { Backend, Plan, ProfileEntry, Program } from './backend';
import { DisposedError, GraphError, OptionsError } from './errors';
import { checkFeeds } from './feeds';
import { type Graph, TRAINING_INPUT, type TrainHook } from './graph';
import { type FeedValue, type HostTensor, type TypedArray, toTyped } from './host';
import { parseOptions } from './options';
import { nodeBuiltin } from './platform';
import { buildPlan, planMemory, type PlanOptions } from './passes';
import { ancestors, initialParam } from './reference';
import { shapeToString } from './shape';
import { Tensor } from './tensor';

/** Options of Executable.run. */
export interface RunOptions {
  /** Run the update nodes that minimize() (and batchNorm) added. */
  train?: boolean;
  /** Time every kernel (see Executable.profileReport()). */
  profile?: boolean;
}

/** Options of compileWith (and kiln's compile): plan options, profiling, program cache size. */
export interface CompileOptions extends PlanOptions {
  /** Time every run's kernels, as if each run passed `{ profile: true }`. */
  profile?: boolean;
  /** Dispose the backend with the Executable (compile() creates one backend per Executable). */
  ownsBackend?: boolean;
  /**
   * Most compiled programs kept at once (default 16). Each distinct run configuration (train
   * flag, symbol bindings such as the batch size, inputs read) compiles one program; past the
   * bound the least recently used one is freed and compiled again if it is needed again.
   */
  programCacheSize?: number;
}

/** Default of CompileOptions.programCacheSize. */
export const PROGRAM_CACHE_SIZE = 16;

interface CachedProgram { ids: Set<number>; entry: Promise<{ plan: Plan; program: Program }> }

const runOptions = z.object({ train: z.boolean().optional(), profile: z.boolean().optional() }).strict();

let executables = 0;
/** Free feed staging arrays an Executable keeps per array type (one per input of a run, a few runs queued). */
const STAGING_PER_TYPE = 8;

/** What a profiled run measured. */
export interface ProfileRecord {
  /** One entry per kernel (or per submission where the backend cannot time kernels). */
  readonly entries: readonly ProfileEntry[];
  /** Whether entries time single kernels or whole submissions. */
  readonly granularity: 'kernel' | 'submission';
  /** Device memory of the program the profiled run used. */
  readonly memory: MemoryReport;
}

/**
 * Device memory of one compiled program, in bytes (4 per element, every dtype, as backends
 * store them). Temps share the memory plan's slots (`assignMemorySlots`), so a program holds
 * `plannedBytes` for its intermediates where one buffer each would take `intermediateBytes`.
 * Kernel scratch and staging buffers for readback are not counted.
 */
export interface MemoryReport {
  /** Params the program reads or writes (they stay resident between runs). */
  readonly paramBytes: number;
  /** Feed and constant buffers. */
  readonly inputBytes: number;
  /** Every intermediate in a buffer of its own: the sum of the temps' sizes. */
  readonly intermediateBytes: number;
  /** What the memory plan allocates for the intermediates: the sum of its slots. */
  readonly plannedBytes: number;
  /** `paramBytes + inputBytes + plannedBytes`: the program's device memory while it runs. */
  readonly peakBytes: number;
  /** `intermediateBytes - plannedBytes`: what the memory plan saves. */
  readonly savedBytes: number;
}

/**
 * The memory a plan needs on a device (see {@link MemoryReport}).
 *
 * @example
 *   const m = programMemory(exe.plan({ loss }, { train: true }));
 *   console.log(m.peakBytes, m.savedBytes);
 */
export function programMemory(plan: Plan): MemoryReport {
  let paramBytes = 0;
  let inputBytes = 0;
  for (const b of plan.buffers.values()) {
    const bytes = Math.max(4, b.size * 4);
    if (b.kind === 'param') paramBytes += bytes;
    else if (b.kind !== 'temp') inputBytes += bytes;
  }
  const { peakBytes: plannedBytes, unsharedBytes: intermediateBytes } = planMemory(plan);
  return { paramBytes, inputBytes, intermediateBytes, plannedBytes, peakBytes: paramBytes + inputBytes + plannedBytes, savedBytes: intermediateBytes - plannedBytes };
}

/** Bytes for reports: `812 B`, `3.5 KiB`, `12.25 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 2 ** 20) return `${(bytes / 2 ** 20).toFixed(2)} MiB`;
  return bytes >= 2 ** 10 ? `${(bytes / 2 ** 10).toFixed(1)} KiB` : `${bytes} B`;
}

export type { TrainHook };

/**
 * A graph compiled for one backend: `run` feeds inputs and fetches tensors; params stay on the
 * device between runs (read and write them with getParam / setParam, snapshot / restore). Each
 * run configuration (train flag, symbol bindings such as the batch size, fetches) compiles one
 * program, cached. Runs execute one at a time in call order. Every run's feeds are checked
 * before any device work (FeedError), and a disposed Executable refuses calls (DisposedError).
 * @example
 * ```ts
 * const exe = await compileWith(g, createReferenceBackend());
 * const { loss: l } = await exe.run({ x: xs, y: ys }, { loss }, { train: true });
 * console.log(l.data[0], exe.steps);
 * await exe.dispose();
 * ```
 */
export class Executable {
  /** Compiled programs by run configuration, least recently used first (a Map keeps insertion order). */
  private readonly programs = new Map<string, CachedProgram>();
  private readonly cacheSize: number;
  /**
   * Runs execute one at a time, in call order: each waits for the previous one, so concurrent
   * run()s see the counters, train hooks and params exactly as the same runs in sequence.
   */
  private queue: Promise<unknown> = Promise.resolve();
  /** Jobs queued and not yet finished. */
  private pending = 0;
  private readonly created = new Set<string>();
  /** Free staging arrays for typed-array feeds, by array type (see run). */
  private readonly staging = new Map<unknown, TypedArray[]>();
  private disposed = false;
  private runCounter = 0;
  private trainSteps = 0;
  private lastProfile: ProfileRecord | undefined;
  /** The plan of the last run, for memoryReport(). */
  private lastPlan: Plan | undefined;
  /** Host hooks of this Executable only; the graph's own `Graph.trainHooks` run first. */
  readonly trainHooks: TrainHook[] = [];
  /** Param names are scoped per Executable, so several can share one backend. */
  private readonly scope = `exe${++executables}/`;

  /**
   * Use compileWith (or kiln's compile). Creates the graph's params on the backend.
   * @throws OptionsError for a programCacheSize that is not a positive integer.
   */
  constructor(
    /** The graph it runs (it may grow after compile: new params are created on the next run). */
    readonly graph: Graph,
    /** The backend that holds its buffers and runs its kernels. */
    readonly backendImpl: Backend,
    private readonly options: CompileOptions = {},
  ) {
    const size = options.programCacheSize ?? PROGRAM_CACHE_SIZE;
    if (!Number.isSafeInteger(size) || size < 1) throw new OptionsError(`compile: programCacheSize must be a positive integer, got ${String(options.programCacheSize)}`);
    this.cacheSize = size;
    this.syncParams();
  }

  /** Chain `job` after every run and param read queued before it. */
  private enqueue<T>(job: () => Promise<T>): Promise<T> {
    this.pending++;
    const r = this.queue.then(job);
    this.queue = r.finally(() => { this.pending--; }).catch(() => undefined);
    return r;
  }

  /**
   * A synchronous state change (param write, counters): at once when nothing is queued, else
   * queued after the runs called before it, so it lands where it would in sequence.
   */
  private inOrder(change: () => void): void {
    if (this.pending === 0) change();
    else void this.enqueue(async () => change());
  }

  /** Which backend runs this Executable: 'webgpu', 'cpu' or 'reference'. */
  get backend(): Backend['name'] { return this.backendImpl.name; }
  /** The backend's device, in words (adapter name, threads). */
  get description(): string { return this.backendImpl.description; }
  /** Training steps run so far (the optimizer's step counter lives on the device as well). */
  get steps(): number { return this.trainSteps; }
  /** Runs so far, training or not: each run's number keys its random ops (dropout). */
  get runs(): number { return this.runCounter; }

  /**
   * Continue the run and training-step counters from a checkpoint, so that random streams
   * and step-driven train hooks (schedules) pick up where the saved run left off.
   */
  restoreCounters(counters: { runs: number; steps: number }): void {
    for (const [k, v] of Object.entries(counters)) {
      if (!Number.isSafeInteger(v) || v < 0) throw new OptionsError(`restoreCounters: ${k} must be a non-negative integer, got ${String(v)}`);
    }
    this.inOrder(() => {
      this.runCounter = counters.runs;
      this.trainSteps = counters.steps;
    });
  }

  /** Create device storage for params added since the last run (graphs may grow after compile). */
  private syncParams(): void {
    for (const [name, p] of this.graph.params) {
      if (this.created.has(name)) continue;
      const node = this.graph.nodes[p.id]!;
      this.backendImpl.createParam(this.scope + name, node.dtype, toTyped(node.dtype, initialParam(this.graph, name)));
      this.created.add(name);
    }
  }

  /**
   * Run the graph: upload feeds, run every kernel (one submission on WebGPU), read back
   * only `fetches`. Feeds are validated first; a bad feed throws FeedError and nothing runs.
   * A feed is a typed array, a number array or `{ data, shape }` for the input's dtype; its
   * size binds the input's symbolic dims. Results are host tensors `{ data, shape, dtype }`.
   * @throws FeedError for a missing, unknown or mis-sized feed, or fed indices out of range;
   * GraphError for a fetch that is not a Tensor of this graph, or train: true without updates;
   * OptionsError for unknown run options; DisposedError after dispose(); DeviceLostError if the device was lost.
   * @example const { logits } = await exe.run({ x: batch }, { logits: y });
   */
  async run<K extends string>(feeds: Record<string, FeedValue>, fetches: Record<K, Tensor>, options: RunOptions = {}): Promise<Record<K, HostTensor>> {
    if (this.disposed) throw new DisposedError('Executable was disposed; compile the graph again');
    if (fetches === null || typeof fetches !== 'object') throw new GraphError('run: fetches must be a record of Tensors');
    // A typo ({ trian: true }) or a wrong type would silently run without training: refuse it.
    const parsed: RunOptions = parseOptions(runOptions, options, 'run');
    const train = parsed.train ?? false;
    const list = Object.entries<Tensor>(fetches).map(([key, t]) => {
      if (!(t instanceof Tensor)) throw new GraphError(`run: fetch '${key}' is not a Tensor`);
      if (t.graph !== this.graph) throw new GraphError(`run: fetch '${key}' (${t}) belongs to another graph`);
      return { key: key as K, id: t.id };
    });
    if (train && this.graph.updates.length === 0) throw new GraphError('run: train: true but the graph has no updates (call g.minimize first)');
    const roots = [...list.map((f) => f.id), ...(train ? this.graph.updates : [])];
    const live = ancestors(this.graph, roots);
    const needed = new Set(live.map((id) => this.graph.nodes[id]!).filter((n) => n.op === 'input' && n.attrs.name !== TRAINING_INPUT).map((n) => n.attrs.name as string));
    const { bindings, values } = checkFeeds(this.graph, feeds, needed, {}, new Set(live));
    // The run reads its feeds as they are now: it may wait in the queue, and the caller may
    // refill its arrays for the next batch meanwhile (number[] feeds were converted already).
    // The copy goes into a staging array this Executable reuses (a fresh 4 MB array per run
    // cost ~30 ms in allocation and collection, ten times a reduction kernel on the cpu backend).
    const staged: TypedArray[] = [];
    for (const [id, v] of values) {
      if (v.exact) continue;
      const copy = this.stage(v.data);
      staged.push(copy);
      values.set(id, { ...v, data: copy });
    }
    return this.enqueue(async () => {
      const out = await this.runQueued(list, needed, bindings, values, train, parsed).catch((e: unknown) => { this.unstage(staged, []); throw e; });
      this.unstage(staged, Object.values<HostTensor>(out));
      return out;
    });
  }

  /** A copy of `data` in a free staging array of the same type and length (a new one when none is free). */
  private stage(data: TypedArray): TypedArray {
    const free = this.staging.get(data.constructor);
    const i = free ? free.findIndex((a) => a.length === data.length) : -1;
    const copy = i >= 0 ? free!.splice(i, 1)[0]! : new (data.constructor as new (n: number) => TypedArray)(data.length);
    copy.set(data as never);
    return copy;
  }

  /**
   * Return a finished run's staging arrays for reuse: every backend has copied its feeds by the
   * time its run settles. An array a result shares memory with stays the caller's; at most
   * STAGING_PER_TYPE arrays per array type are kept.
   */
  private unstage(staged: readonly TypedArray[], results: readonly HostTensor[]): void {
    for (const a of staged) {
      if (results.some((r) => r.data.buffer === a.buffer)) continue;
      const free = this.staging.get(a.constructor) ?? [];
      if (free.length >= STAGING_PER_TYPE) free.shift();
      free.push(a);
      this.staging.set(a.constructor, free);
    }
  }

  private async runQueued<K extends string>(list: { key: K; id: number }[], needed: ReadonlySet<string>, bindings: ReadonlyMap<string, number>, values: ReturnType<typeof checkFeeds>['values'], train: boolean, options: RunOptions): Promise<Record<K, HostTensor>> {
    this.syncParams();
    const { plan, program } = await this.programFor(list.map((f) => f.id), needed, bindings, train);

    if (train) {
      for (const hook of [...this.graph.trainHooks, ...this.trainHooks]) {
        const writes = hook(this.trainSteps);
        if (writes) for (const [name, v] of Object.entries(writes)) this.writeParam(name, typeof v === 'number' ? [v] : v);
      }
    }
    const feedMap = new Map<number, TypedArray>();
    for (const f of plan.feeds) {
      const id = this.graph.inputs.get(f.name)!;
      feedMap.set(f.buf, values.get(id)!.data);
    }
    const wanted = list.map((f) => ({ key: f.key, operand: plan.fetches.find((p) => p.key === `#${f.id}`)!.operand }));
    const result = await program.run(feedMap, [...new Set(wanted.map((f) => f.operand.buf))], { step: this.runCounter, profile: options.profile ?? this.options.profile ?? false });
    this.runCounter++;
    if (train) this.trainSteps++;
    this.lastPlan = plan;
    if (result.profile) this.lastProfile = { entries: result.profile, granularity: result.profileGranularity ?? 'kernel', memory: programMemory(plan) };
    const out = {} as Record<K, HostTensor>;
    for (const f of wanted) {
      out[f.key] = { data: result.outputs.get(f.operand.buf)!, shape: [...f.operand.shape], dtype: f.operand.dtype };
    }
    return out;
  }

  /**
   * One program per (train flag, bindings, inputs read); a new fetch set compiles the union of
   * all fetch sets seen so far, so alternating fetches (loss every N steps) compile once. Runs
   * are queued, so a program replaced or evicted here is used by no run and is freed at once.
   */
  private async programFor(ids: readonly number[], needed: ReadonlySet<string>, bindings: ReadonlyMap<string, number>, train: boolean): Promise<{ plan: Plan; program: Program }> {
    const base = `${train ? 'T' : 'E'}|${[...bindings].sort().map(([k, v]) => `${k}=${v}`).join(',')}|${[...needed].sort().join(',')}`;
    let cached = this.programs.get(base);
    if (cached) this.programs.delete(base); // re-inserted below as the most recently used
    if (!cached || !ids.every((id) => cached!.ids.has(id))) {
      const all = new Set([...(cached?.ids ?? []), ...ids]);
      if (cached) void freeProgram(cached);
      const entry = (async () => {
        const plan = this.scoped(buildPlan(this.graph, [...all].map((id) => ({ key: `#${id}`, id })), train, bindings, this.planOptions()));
        return { plan, program: await this.backendImpl.lower(plan) };
      })();
      cached = { ids: all, entry };
    }
    this.programs.set(base, cached);
    for (const [key, old] of this.programs) {
      if (this.programs.size <= this.cacheSize) break;
      this.programs.delete(key);
      void freeProgram(old);
    }
    try {
      return await cached.entry;
    } catch (e) {
      if (this.programs.get(base) === cached) this.programs.delete(base);
      throw e;
    }
  }

  /** Programs compiled and held now (at most CompileOptions.programCacheSize). */
  get cachedPrograms(): number { return this.programs.size; }

  /** The plan a run configuration compiles to (for inspection and tests). */
  plan(fetches: Record<string, Tensor>, options: { train?: boolean; bindings?: Record<string, number> } = {}): Plan {
    const list = Object.entries(fetches).map(([key, t]) => ({ key, id: t.id }));
    return buildPlan(this.graph, list, options.train ?? false, new Map(Object.entries(options.bindings ?? {})), this.planOptions());
  }

  /** The compile options, with the storage-buffer limit the smaller of the option and the backend's own. */
  private planOptions(): PlanOptions {
    const limits = [this.options.maxStorageBuffers, this.backendImpl.limits?.maxStorageBuffersPerShaderStage].filter((v): v is number => v !== undefined);
    return limits.length ? { ...this.options, maxStorageBuffers: Math.min(...limits) } : this.options;
  }

  private scoped(plan: Plan): Plan {
    const buffers = new Map([...plan.buffers].map(([id, b]) => [id, b.kind === 'param' ? { ...b, name: this.scope + b.name } : b]));
    return { ...plan, buffers };
  }

  private paramNode(name: string) {
    const p = this.graph.params.get(name);
    if (!p) throw new GraphError(`unknown param '${name}' (params: ${[...this.graph.params.keys()].join(', ') || 'none'})`);
    return this.graph.nodes[p.id]!;
  }

  /** A param's current value; it reads after every run queued before the call. */
  async getParam(name: string): Promise<HostTensor> {
    if (this.disposed) throw new DisposedError('Executable was disposed');
    const node = this.paramNode(name);
    return this.enqueue(async () => {
      this.syncParams();
      return { data: await this.backendImpl.readParam(this.scope + name), shape: node.shape as number[], dtype: node.dtype };
    });
  }

  /**
   * Every param and the run and step counters as one consistent state between runs: read
   * after every run queued before the call, before any run queued after it (checkpoints).
   */
  async snapshot(): Promise<{ params: Map<string, HostTensor>; runs: number; steps: number }> {
    if (this.disposed) throw new DisposedError('Executable was disposed');
    return this.enqueue(async () => {
      this.syncParams();
      const params = new Map<string, HostTensor>();
      for (const name of this.graph.params.keys()) {
        const node = this.paramNode(name);
        params.set(name, { data: await this.backendImpl.readParam(this.scope + name), shape: node.shape as number[], dtype: node.dtype });
      }
      return { params, runs: this.runCounter, steps: this.trainSteps };
    });
  }

  /**
   * Write params and the run and step counters as one step between runs, the inverse of
   * snapshot(): after every run queued before the call, before any run queued after it
   * (checkpoint loading). Names, sizes and counters are checked first; a bad state throws
   * (GraphError, OptionsError) and changes nothing.
   */
  async restore(state: { params: ReadonlyMap<string, ArrayLike<number>>; runs: number; steps: number }): Promise<void> {
    if (this.disposed) throw new DisposedError('Executable was disposed');
    for (const [name, values] of state.params) {
      const node = this.paramNode(name);
      const n = (node.shape as number[]).reduce((a, b) => a * b, 1);
      if (values.length !== n) throw new OptionsError(`restore('${name}'): ${values.length} values for shape ${shapeToString(node.shape)} (${n})`);
    }
    for (const k of ['runs', 'steps'] as const) {
      if (!Number.isSafeInteger(state[k]) || state[k] < 0) throw new OptionsError(`restore: ${k} must be a non-negative integer, got ${String(state[k])}`);
    }
    return this.enqueue(async () => {
      for (const [name, values] of state.params) this.writeParam(name, values);
      this.runCounter = state.runs;
      this.trainSteps = state.steps;
    });
  }

  /**
   * Write a param's values (checked now). With runs still queued the write lands after them,
   * as it would in sequence: `exe.run(...); exe.setParam(...)` leaves that run its old value.
   */
  setParam(name: string, values: ArrayLike<number>): void {
    if (this.disposed) throw new DisposedError('Executable was disposed');
    const data = this.paramValues(name, values);
    this.inOrder(() => this.writeParam(name, data));
  }

  private paramValues(name: string, values: ArrayLike<number>): TypedArray {
    const node = this.paramNode(name);
    const n = (node.shape as number[]).reduce((a, b) => a * b, 1);
    if (values.length !== n) throw new OptionsError(`setParam('${name}'): ${values.length} values for shape ${shapeToString(node.shape)} (${n})`);
    return toTyped(node.dtype, values);
  }

  /** Write checked values now (train hooks, queued writes). */
  private writeParam(name: string, values: ArrayLike<number>): void {
    const data = this.paramValues(name, values);
    this.syncParams();
    this.backendImpl.writeParam(this.scope + name, data);
  }

  /** Put every param (and optimizer slot) back to its initial value, and the step counter to 0. */
  resetParams(): void {
    if (this.disposed) throw new DisposedError('Executable was disposed');
    const initial = [...this.graph.params.keys()].map((name) => [name, this.paramValues(name, initialParam(this.graph, name))] as const);
    this.inOrder(() => {
      for (const [name, data] of initial) this.writeParam(name, data);
      this.trainSteps = 0;
    });
  }

  /** Names of the graph's params (optimizer slots included), in creation order. */
  get paramNames(): string[] { return [...this.graph.params.keys()]; }

  /**
   * Device memory of the program the last run used: its peak next to the sum of its
   * intermediates (what the memory plan saves). Throws GraphError before the first run.
   *
   * @example
   *   await exe.run(feeds, { loss }, { train: true });
   *   const { peakBytes, intermediateBytes, plannedBytes } = exe.memoryReport();
   */
  memoryReport(): MemoryReport {
    if (!this.lastPlan) throw new GraphError('memoryReport: no run yet (memory is known once a run has compiled its program)');
    return programMemory(this.lastPlan);
  }

  /**
   * The last profiled run's kernels, slowest first, as text and JSON-ready records, with the
   * program's device memory (peak, and the intermediates with and without the memory plan).
   */
  profileReport(): { granularity: 'kernel' | 'submission'; entries: ProfileEntry[]; memory: MemoryReport; text: string } {
    if (!this.lastProfile) throw new GraphError('profileReport: no profiled run yet (run with { profile: true })');
    const entries = [...this.lastProfile.entries].sort((a, b) => b.ms - a.ms);
    const rows = entries.map((e) => {
      const gbs = e.ms > 0 ? e.bytes / e.ms / 1e6 : 0;
      const gfs = e.ms > 0 ? e.flops / e.ms / 1e6 : 0;
      return `${e.kernel.padEnd(28)} ${e.ops.join('+').slice(0, 30).padEnd(30)} ${e.shapes.slice(0, 36).padEnd(36)} ${e.ms.toFixed(3).padStart(9)} ms ${gbs.toFixed(2).padStart(8)} GB/s ${gfs.toFixed(2).padStart(8)} GFLOP/s`;
    });
    const head = this.lastProfile.granularity === 'kernel' ? 'per-kernel timings' : 'NOTE: the adapter has no timestamp queries; whole submissions were timed';
    const m = this.lastProfile.memory;
    const memory = `device memory: peak ${formatBytes(m.peakBytes)} (params ${formatBytes(m.paramBytes)}, feeds+constants ${formatBytes(m.inputBytes)}, intermediates ${formatBytes(m.plannedBytes)} planned vs ${formatBytes(m.intermediateBytes)} unshared)`;
    return { granularity: this.lastProfile.granularity, entries, memory: m, text: [head, ...rows, memory].join('\n') };
  }

  /**
   * The last profiled run as a Chrome trace (chrome://tracing, Perfetto): one complete event
   * per kernel, laid end to end in submission order, with ops, shapes, bytes and FLOPs.
   */
  chromeTrace(): { traceEvents: object[]; displayTimeUnit: 'ms'; metadata: Record<string, string> } {
    if (!this.lastProfile) throw new GraphError('chromeTrace: no profiled run yet (run with { profile: true })');
    let ts = 0;
    const traceEvents = this.lastProfile.entries.map((e) => {
      const ev = {
        name: e.kernel, cat: e.ops.join('+'), ph: 'X', ts, dur: e.ms * 1000, pid: 1, tid: 1,
        args: { ops: e.ops, shapes: e.shapes, bytes: e.bytes, flops: e.flops, 'GB/s': e.ms > 0 ? e.bytes / e.ms / 1e6 : 0, 'GFLOP/s': e.ms > 0 ? e.flops / e.ms / 1e6 : 0 },
      };
      ts += e.ms * 1000;
      return ev;
    });
    return { traceEvents, displayTimeUnit: 'ms', metadata: { backend: this.backend, device: this.description, granularity: this.lastProfile.granularity } };
  }

  /** Write chromeTrace() to a file (Node). */
  async exportChromeTrace(path: string): Promise<void> {
    const trace = this.chromeTrace();
    const { writeFile } = nodeBuiltin<typeof import('node:fs/promises')>('node:fs/promises', 'exportChromeTrace');
    await writeFile(path, JSON.stringify(trace));
  }

  /** Free the programs and params (and the backend if it owns it) after queued runs finish. Idempotent. */
  async dispose(): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    await this.queue; // runs called before dispose() finish first; later calls are refused
    const held = [...this.programs.values()];
    this.programs.clear();
    this.staging.clear();
    await Promise.all(held.map(freeProgram));
    for (const name of this.created) this.backendImpl.deleteParam(this.scope + name);
    this.created.clear();
    if (this.options.ownsBackend) await this.backendImpl.dispose();
  }
}

async function freeProgram(c: CachedProgram): Promise<void> {
  try { (await c.entry).program.dispose(); } catch { /* a failed compile has nothing to free */ }
}

/**
 * Compile a graph for a backend you created (kiln's `compile(g, { backend: 'auto' })` creates
 * one for you). Programs are built lazily on each run configuration's first run.
 * @throws OptionsError for a bad programCacheSize.
 * @example const exe = await compileWith(g, createReferenceBackend());
 */
export async function compileWith(g: Graph, backend: Backend, options: CompileOptions = {}): Promise<Executable> {
  return new Executable(g, backend, options);
}

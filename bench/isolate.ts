/**
 * Running cases, in this process or in a child process per engine.
 *
 * Every engine named on the command line runs in a child process of its own
 * (`bench/engine-worker.ts`), so that a native crash (Dawn, lavapipe, the wasm runtime) or a hang
 * ends one case, which becomes a row in the report (`crashed: signal SIGSEGV`, `hung: ...`),
 * instead of killing the whole run before it prints anything. After a crash the engine's next
 * case gets a fresh child. Cases are still timed inside the engine's process, exactly as before;
 * only the results travel back (Node IPC).
 */
import { type ChildProcess, fork } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { MemoryReport } from 'kiln';
import type { Engine } from './engines/types';
import { type Stats, measure } from './timing';
import { type PlanOptions, type Workload, planWorkloads } from './workloads';

export interface CaseTiming {
  warmup: number;
  reps: number;
  maxCaseMs: number;
}

export type CaseOutcome =
  | { ok: true; stats: Stats; flops?: number; bytes?: number; memory?: MemoryReport }
  | { ok: false; reason: string };

export interface EngineStart {
  available: true | string;
  info?: Record<string, unknown>;
}

/** One engine, wherever it runs. */
export interface EngineRunner {
  readonly name: string;
  readonly backend: string;
  start(): Promise<EngineStart>;
  run(w: Workload, timing: CaseTiming): Promise<CaseOutcome>;
  /** Releases the engine; for a child process, says how it ended if that was not exit 0. */
  dispose(): Promise<string | undefined>;
}

/** Build, warm up, time and dispose one case on an engine in this process. */
export async function runCase(engine: Engine, w: Workload, timing: CaseTiming): Promise<CaseOutcome> {
  let c;
  try {
    c = await w.make(engine);
  } catch (error) {
    return { ok: false, reason: (error as Error).message ?? String(error) };
  }
  try {
    const stats = await measure(() => c.run(), { warmup: timing.warmup, reps: timing.reps, maxTimeMs: timing.maxCaseMs });
    const memory = c.memory?.();
    return { ok: true, stats, ...(c.flops !== undefined ? { flops: c.flops } : {}), ...(c.bytes !== undefined ? { bytes: c.bytes } : {}), ...(memory ? { memory } : {}) };
  } catch (error) {
    return { ok: false, reason: `failed: ${(error as Error).message ?? String(error)}` };
  } finally {
    c.dispose();
  }
}

/** An engine object living in this process (tests, custom engines). */
export class InProcessEngine implements EngineRunner {
  readonly name: string;
  readonly backend: string;
  constructor(private readonly engine: Engine) {
    this.name = engine.name;
    this.backend = engine.backend;
  }

  async start(): Promise<EngineStart> {
    const ok = await this.engine.available();
    if (ok !== true) return { available: typeof ok === 'string' ? ok : 'not available' };
    return { available: true, info: await this.engine.info() };
  }

  run(w: Workload, timing: CaseTiming): Promise<CaseOutcome> {
    return runCase(this.engine, w, timing);
  }

  async dispose(): Promise<undefined> {
    await this.engine.dispose();
    return undefined;
  }
}

// ---- the child-process protocol (parent -> worker: Request; worker -> parent: Reply)

/** What identifies a workload across processes: the worker re-plans and picks it by these. */
export interface CaseSpec {
  bench: string;
  params: Record<string, number>;
  plan: PlanOptions;
  timing: CaseTiming;
}

export type Request = { type: 'case'; spec: CaseSpec } | { type: 'exit' };
export type Reply = { type: 'ready'; start: EngineStart } | { type: 'outcome'; outcome: CaseOutcome };

/** The workload a spec names, planned the same way the parent planned it. */
export function findWorkload(spec: CaseSpec): Workload | undefined {
  const key = JSON.stringify(spec.params);
  return planWorkloads(spec.plan).find((w) => w.bench === spec.bench && JSON.stringify(w.params) === key);
}

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const WORKER = path.join(benchDir, 'engine-worker.ts');

/** How a child ended, as the report says it. */
export function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `crashed: signal ${signal}` : `crashed: exit code ${code}`;
}

export interface EngineProcessOptions {
  /** The plan every case comes from (the worker re-plans it). */
  plan: PlanOptions;
  /** A child that says nothing for this long is killed and the case recorded as hung. */
  hangMs: number;
  /** Worker script (tests substitute one that crashes). */
  worker?: string;
  /** Node flags for the worker (default `--import tsx`; a bundled worker needs none). */
  execArgv?: string[];
}

/** An engine in a child process of its own; a crash or a hang costs one case, not the run. */
export class EngineProcess implements EngineRunner {
  readonly name: string;
  readonly backend: string;
  private child: ChildProcess | undefined;
  private waiting: ((r: Reply | { type: 'gone'; reason: string }) => void) | undefined;

  constructor(readonly id: string, private readonly options: EngineProcessOptions) {
    const dash = id.indexOf('-');
    this.name = id.slice(0, dash);
    this.backend = id.slice(dash + 1);
  }

  /** The next reply, or why the child went away (crash, exit, or silence past `ms`). */
  private next(child: ChildProcess, ms: number): Promise<Reply | { type: 'gone'; reason: string }> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiting = undefined;
        if (this.child === child) this.child = undefined; // the next case gets a fresh one
        child.kill('SIGKILL');
        resolve({ type: 'gone', reason: `hung: no answer in ${Math.round(ms / 1000)} s, killed` });
      }, ms);
      this.waiting = (r) => {
        clearTimeout(timer);
        this.waiting = undefined;
        resolve(r);
      };
    });
  }

  private spawn(): ChildProcess {
    // `--import tsx` resolves from the repository root, like `pnpm bench` itself.
    const child = fork(this.options.worker ?? WORKER, [this.id], {
      cwd: path.join(benchDir, '..'),
      execArgv: this.options.execArgv ?? ['--import', 'tsx'],
      // The worker's stdout would mix into the report: both of its streams go to our stderr.
      stdio: ['ignore', 2, 2, 'ipc'],
    });
    // Only the current child may answer: a killed one's late 'exit' must not answer its successor.
    child.on('message', (m: Reply) => { if (this.child === child) this.waiting?.(m); });
    child.on('exit', (code, signal) => {
      if (this.child !== child) return;
      this.child = undefined;
      this.waiting?.({ type: 'gone', reason: describeExit(code, signal) });
    });
    child.on('error', (e) => { if (this.child === child) this.waiting?.({ type: 'gone', reason: `crashed: ${e.message}` }); });
    return child;
  }

  /** A running child that has said it is ready. */
  private async ready(): Promise<EngineStart> {
    const child = this.spawn();
    this.child = child;
    // Loading an engine can take long on a loaded machine: never less than two minutes.
    const r = await this.next(child, Math.max(this.options.hangMs, 120_000));
    if (r.type === 'ready') return r.start;
    this.child = undefined;
    child.kill('SIGKILL'); // whatever state it is in, it is of no further use
    return { available: r.type === 'gone' ? r.reason : 'unexpected reply from the engine worker' };
  }

  start(): Promise<EngineStart> {
    return this.ready();
  }

  async run(w: Workload, timing: CaseTiming): Promise<CaseOutcome> {
    if (!this.child) {
      const s = await this.ready();
      if (s.available !== true) return { ok: false, reason: s.available };
    }
    const child = this.child!;
    const reply = this.next(child, this.options.hangMs);
    try {
      child.send({ type: 'case', spec: { bench: w.bench, params: w.params, plan: this.options.plan, timing } } satisfies Request);
    } catch {
      // The child died between cases: its 'exit' event answers `reply`.
    }
    const r = await reply;
    if (r.type === 'outcome') return r.outcome;
    if (r.type === 'gone') return { ok: false, reason: r.reason };
    return { ok: false, reason: 'unexpected reply from the engine worker' };
  }

  /** Ask the child to exit; says how it ended when that was not a clean exit 0. */
  async dispose(): Promise<string | undefined> {
    const child = this.child;
    if (!child) return undefined;
    let hung = false;
    const gone = new Promise<string | undefined>((resolve) => child.once('exit', (code, signal) => resolve(code === 0 ? undefined : describeExit(code, signal))));
    const timer = setTimeout(() => { hung = true; child.kill('SIGKILL'); }, this.options.hangMs);
    try {
      child.send({ type: 'exit' } satisfies Request);
    } catch {
      // Already gone: 'exit' has fired or is about to.
    }
    const ended = await gone;
    clearTimeout(timer);
    return hung ? `hung at exit: killed after ${Math.round(this.options.hangMs / 1000)} s` : ended;
  }
}

/**
 * The bench harness: picks engines, plans workloads, times each (workload, engine) pair and
 * writes the report. `bench/main.ts` is the command line around {@link runBench}.
 *
 * Order: for each workload, each engine builds its case, warms it up, runs the timed iterations
 * back to back and disposes it. Engines are interleaved per workload so that slow drift (thermal,
 * other load) spreads over all of them rather than landing on one.
 *
 * Engines named by id run each in a child process of their own (isolate.ts): a native crash or
 * a hang becomes a row in the report ('crashed: signal SIGABRT') and the run goes on.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { TFJS_BACKENDS, TfjsEngine, type TfjsBackend } from './engines/tfjs';
import type { Engine } from './engines/types';
import { dawnVersion, describeAdapter } from './gpu';
import { EngineProcess, type EngineRunner, InProcessEngine } from './isolate';
import { type BenchRecord, type EngineSummary, type Report, type SkippedRecord, engineId, renderReport } from './report';
import { BENCHES, type PlanOptions, type Suite, planWorkloads } from './workloads';

export const ALL_ENGINES = ['kiln-webgpu', 'kiln-cpu', 'tfjs-webgpu', 'tfjs-wasm', 'tfjs-cpu'] as const;

export interface BenchOptions {
  suite: Suite | 'all';
  /** Engine ids, `<engine>-<backend>`: kiln-webgpu, kiln-cpu, tfjs-webgpu, tfjs-wasm, tfjs-cpu. */
  backends: string[];
  sizes?: number[];
  /** Only these benchmarks (matmul, elementwiseChain, reduceSum, softmax, conv2d, mlpTrainStep, ...). */
  benches?: string[];
  batches?: number[];
  trainBatch?: number;
  reps: number;
  warmup: number;
  /** Cap on timed milliseconds per case; at least one timed iteration always runs. */
  maxCaseMs: number;
  quick: boolean;
  /** JSON output path; null writes no file. */
  out: string | null;
  /** Progress lines (default: stderr). */
  log?: (line: string) => void;
  /** Engines to use instead of building them from `backends` (tests, custom engines); they run in this process. */
  engines?: Engine[];
  /** Run engines named in `backends` in this process instead of a child process each (debugging). */
  inProcess?: boolean;
  /** A child engine process silent this long is killed and its case recorded as hung (default 30 min: a CNN train step on tfjs-cpu alone takes 40 s an iteration on an idle 2-core machine). */
  hangMs?: number;
  /** The script child engine processes run (default bench/engine-worker.ts; tests substitute one). */
  worker?: string;
  /** Node flags for that script (default `--import tsx`; the GPU kit's bundled worker needs none). */
  workerExecArgv?: string[];
}

export const DEFAULT_OPTIONS: BenchOptions = {
  suite: 'all',
  backends: [...ALL_ENGINES],
  reps: 10,
  warmup: 2,
  maxCaseMs: 20_000,
  quick: false,
  out: '',
};

const benchDir = path.dirname(fileURLToPath(import.meta.url));

export function defaultOutPath(date = new Date()): string {
  const stamp = date.toISOString().replace(/:/g, '-').replace(/\..*$/, '');
  return path.join(benchDir, 'results', `${stamp}.json`);
}

const USAGE = `usage: pnpm bench [options]
  --suite kernels|models|all   what to run (default all)
  --backend <list>             engines, comma-separated (default ${ALL_ENGINES.join(',')})
  --sizes 256,512              sizes for size-parameterised kernels (matmul s^3, elementwise s^2, reduce/softmax s x s)
  --bench <list>               only these benchmarks (matmul,elementwiseChain,reduceSum,softmax,conv2d,
                               mlpTrainStep,cnnTrainStep,mlpInference,cnnInference)
  --batches 1,32               inference batch sizes (default 1,32,256)
  --train-batch N              train-step batch for both models (default MLP 128, CNN 32)
  --reps N                     timed iterations per case (default 10)
  --warmup N                   untimed iterations first (default 2)
  --max-case-ms N              stop timing a case after N ms of timed runs (default 20000)
  --out FILE                   JSON output (default bench/results/<date>.json); --no-out for none
  --quick                      one size, one rep, one warm-up
  --in-process                 run every engine in this process (default: a child process each,
                               so a crash becomes a 'crashed: signal ...' row)`;

function intList(flag: string, value: string | undefined): number[] {
  if (!value) throw new Error(`${flag} needs a value`);
  const list = value.split(',').map((s) => Number(s.trim()));
  if (list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`${flag} takes positive integers, got '${value}'`);
  return list;
}

function positiveInt(flag: string, value: string | undefined, allowZero = false): number {
  const n = Number(value);
  if (value === undefined || !Number.isInteger(n) || n < (allowZero ? 0 : 1)) throw new Error(`${flag} takes a ${allowZero ? 'non-negative' : 'positive'} integer, got '${value}'`);
  return n;
}

/** Parses command-line flags; throws with a usage message on bad input. */
export function parseArgs(argv: readonly string[]): BenchOptions & { help?: boolean } {
  const o: BenchOptions & { help?: boolean } = { ...DEFAULT_OPTIONS, backends: [...DEFAULT_OPTIONS.backends] };
  let reps: number | undefined;
  let warmup: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string | undefined => inline ?? argv[++i];
    switch (flag) {
      case '--suite': {
        const v = value();
        if (v !== 'kernels' && v !== 'models' && v !== 'all') throw new Error(`--suite takes kernels, models or all, got '${v}'\n${USAGE}`);
        o.suite = v;
        break;
      }
      case '--backend':
      case '--backends': {
        const v = value();
        if (!v) throw new Error(`--backend needs a value\n${USAGE}`);
        o.backends = v.split(',').map((s) => s.trim()).filter(Boolean);
        for (const b of o.backends) {
          if (!(ALL_ENGINES as readonly string[]).includes(b)) throw new Error(`unknown backend '${b}'; known: ${ALL_ENGINES.join(', ')}`);
        }
        break;
      }
      case '--sizes':
        o.sizes = intList(flag, value());
        break;
      case '--bench': {
        const v = value();
        if (!v) throw new Error(`--bench needs a value\n${USAGE}`);
        o.benches = v.split(',').map((x) => x.trim()).filter(Boolean);
        for (const b of o.benches) {
          if (!(BENCHES as readonly string[]).includes(b)) throw new Error(`unknown bench '${b}'; known: ${BENCHES.join(', ')}`);
        }
        break;
      }
      case '--batches':
        o.batches = intList(flag, value());
        break;
      case '--train-batch':
        o.trainBatch = positiveInt(flag, value());
        break;
      case '--reps':
        reps = positiveInt(flag, value());
        break;
      case '--warmup':
        warmup = positiveInt(flag, value(), true);
        break;
      case '--max-case-ms':
        o.maxCaseMs = positiveInt(flag, value());
        break;
      case '--out': {
        const v = value();
        if (!v) throw new Error('--out needs a file name');
        o.out = v;
        break;
      }
      case '--no-out':
        o.out = null;
        break;
      case '--quick':
        o.quick = true;
        break;
      case '--in-process':
        o.inProcess = true;
        break;
      case '--help':
      case '-h':
        o.help = true;
        break;
      default:
        throw new Error(`unknown argument '${arg}'\n${USAGE}`);
    }
  }
  o.reps = reps ?? (o.quick ? 1 : DEFAULT_OPTIONS.reps);
  o.warmup = warmup ?? (o.quick ? 1 : DEFAULT_OPTIONS.warmup);
  return o;
}

export { USAGE };

/**
 * Builds the engine for an id. Kiln engines come from `bench/engines/kiln.ts`, imported when
 * first asked for (a string literal, so that bundlers such as the GPU kit's include it); one
 * that fails to load reports itself unavailable.
 */
export async function createEngine(id: string): Promise<Engine | string> {
  const dash = id.indexOf('-');
  const name = id.slice(0, dash);
  const backend = id.slice(dash + 1);
  if (name === 'tfjs' && (TFJS_BACKENDS as readonly string[]).includes(backend)) return new TfjsEngine(backend as TfjsBackend);
  if (name === 'kiln') {
    try {
      const mod = (await import('./engines/kiln')) as { createKilnEngine?: (backend: string) => Engine | Promise<Engine> };
      if (!mod.createKilnEngine) return 'bench/engines/kiln.ts does not export createKilnEngine';
      return await mod.createKilnEngine(backend);
    } catch (error) {
      return `kiln engine not loadable: ${(error as Error).message.split('\n')[0]}`;
    }
  }
  return `unknown engine '${id}'`;
}

function packageVersions(): Record<string, string | null> {
  const req = createRequire(path.join(benchDir, 'package.json'));
  const version = (load: () => unknown): string | null => {
    try {
      return (load() as { version?: string }).version ?? null;
    } catch {
      return null;
    }
  };
  const readJson = (file: string) => JSON.parse(readFileSync(file, 'utf8')) as unknown;
  const out: Record<string, string | null> = {};
  for (const pkg of ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', '@tensorflow/tfjs-backend-webgpu']) {
    out[pkg] = version(() => req(`${pkg}/package.json`));
  }
  out.webgpu = dawnVersion();
  out.kiln = version(() => readJson(path.join(benchDir, '..', 'packages', 'kiln', 'package.json')));
  out['gpu.js'] = version(() => createRequire(path.join(benchDir, '..', 'packages', 'cpu', 'package.json'))('gpu.js/package.json'));
  return out;
}

export interface BenchResult {
  report: Report;
  markdown: string;
  outPath: string | null;
}

export async function runBench(options: Partial<BenchOptions> = {}): Promise<BenchResult> {
  const o: BenchOptions = { ...DEFAULT_OPTIONS, ...options };
  const log = o.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const date = new Date();

  const suites: Suite[] = o.suite === 'all' ? ['kernels', 'models'] : [o.suite];
  const plan: PlanOptions = { suites, sizes: o.sizes, batches: o.batches, trainBatch: o.trainBatch, quick: o.quick };
  const workloads = planWorkloads(plan).filter((w) => !o.benches || o.benches.includes(w.bench));

  const engines: EngineRunner[] = [];
  const summaries: EngineSummary[] = [];
  const candidates: Array<EngineRunner | { id: string; reason: string }> = [];
  if (o.engines) candidates.push(...o.engines.map((e) => new InProcessEngine(e)));
  else if (o.inProcess) {
    for (const id of o.backends) {
      const e = await createEngine(id);
      candidates.push(typeof e === 'string' ? { id, reason: e } : new InProcessEngine(e));
    }
  } else {
    for (const id of o.backends) candidates.push(new EngineProcess(id, { plan, hangMs: o.hangMs ?? 1_800_000, ...(o.worker ? { worker: o.worker } : {}), ...(o.workerExecArgv ? { execArgv: o.workerExecArgv } : {}) }));
  }
  // Child processes start side by side (each loads its engine); in-process engines one by one.
  const starting = new Map(candidates.flatMap((c) => (c instanceof EngineProcess ? [[c, c.start()] as const] : [])));
  for (const c of candidates) {
    if ('reason' in c) {
      const dash = c.id.indexOf('-');
      summaries.push({ id: c.id, engine: c.id.slice(0, dash), backend: c.id.slice(dash + 1), available: c.reason });
      log(`${c.id}: unavailable (${c.reason})`);
      continue;
    }
    const id = `${c.name}-${c.backend}`;
    const started = await (starting.get(c as EngineProcess) ?? c.start());
    if (started.available !== true) {
      summaries.push({ id, engine: c.name, backend: c.backend, available: started.available });
      log(`${id}: unavailable (${started.available})`);
      await c.dispose();
      continue;
    }
    summaries.push({ id, engine: c.name, backend: c.backend, available: true, info: started.info ?? {} });
    engines.push(c);
  }

  const wantsGpu = summaries.some((s) => s.backend === 'webgpu');
  const header: Report['header'] = {
    date: date.toISOString(),
    node: process.version,
    platform: process.platform,
    arch: process.arch,
    cpu: { model: os.cpus()[0]?.model ?? 'unknown', cores: os.cpus().length },
    memoryGiB: Math.round((os.totalmem() / 2 ** 30) * 10) / 10,
    adapter: wantsGpu ? await describeAdapter() : null,
    packages: packageVersions(),
    options: {
      suite: o.suite,
      backends: o.backends,
      sizes: o.sizes ?? null,
      benches: o.benches ?? null,
      batches: o.batches ?? null,
      trainBatch: o.trainBatch ?? null,
      reps: o.reps,
      warmup: o.warmup,
      maxCaseMs: o.maxCaseMs,
      quick: o.quick,
    },
    engines: summaries,
  };

  const records: BenchRecord[] = [];
  const skipped: SkippedRecord[] = [];
  const timing = { warmup: o.warmup, reps: o.reps, maxCaseMs: o.maxCaseMs };
  for (const w of workloads) {
    for (const engine of engines) {
      const base = { engine: engine.name, backend: engine.backend, bench: w.bench, params: w.params };
      const label = `${engine.name}-${engine.backend} ${w.bench} ${JSON.stringify(w.params)}`;
      const outcome = await engine.run(w, timing);
      if (!outcome.ok) {
        skipped.push({ ...base, reason: outcome.reason });
        log(`${label}: ${outcome.reason.startsWith('failed') || outcome.reason.startsWith('crashed') || outcome.reason.startsWith('hung') ? outcome.reason : `skipped (${outcome.reason})`}`);
        continue;
      }
      const { stats } = outcome;
      const record: BenchRecord = {
        ...base,
        medianMs: stats.medianMs,
        minMs: stats.minMs,
        maxMs: stats.maxMs,
        meanMs: stats.meanMs,
        spread: stats.spread,
        reps: stats.reps,
        warmup: o.warmup,
        samplesMs: stats.samplesMs,
      };
      if (outcome.flops !== undefined) record.gflops = outcome.flops / (stats.medianMs * 1e6);
      if (outcome.bytes !== undefined) record.gbps = outcome.bytes / (stats.medianMs * 1e6);
      if (outcome.memory) record.memory = outcome.memory;
      records.push(record);
      log(`${label}: ${stats.medianMs.toFixed(3)} ms median of ${stats.reps}`);
    }
  }
  for (const engine of engines) {
    const ended = await engine.dispose();
    if (ended) {
      const summary = summaries.find((s) => s.id === `${engine.name}-${engine.backend}`)!;
      summary.exit = ended;
      log(`${summary.id}: engine process ${ended} at exit`);
    }
  }

  const report: Report = { header, records, skipped };
  let outPath: string | null = null;
  if (o.out !== null) {
    outPath = o.out === '' ? defaultOutPath(date) : path.resolve(o.out);
    mkdirSync(path.dirname(outPath), { recursive: true });
    writeFileSync(outPath, `${JSON.stringify(report, null, 2)}\n`);
    log(`wrote ${outPath}`);
  }
  return { report, markdown: renderReport(report), outPath };
}

/**
 * The GPU check kit's entry point (bundled into `bench.mjs` by build.sh; `./run.sh` calls it):
 * runs the bench harness's kernels and models suites on Kiln's webgpu engine at GPU-sized
 * shapes and on its cpu engine at smaller ones, then PyTorch on the same workloads
 * (`torch_peer.py`, CUDA when it has it), and writes one JSON report and one markdown table
 * with `kiln-X/torch-Y` ratio columns.
 *
 *   ./run.sh [--quick] [--out-dir DIR] [--sizes 512,1024,2048,4096] [--cpu-sizes 256,1024]
 *            [--reps N] [--warmup N] [--max-case-ms N] [--no-torch] [--torch-device cuda|cpu]
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BenchOptions, runBench } from '../harness';
import { type BenchRecord, type EngineSummary, type Report, type SkippedRecord, renderReport } from '../report';
import { type PlanOptions, planWorkloads } from '../workloads';

export interface KitOptions {
  quick: boolean;
  outDir: string;
  sizes: number[];
  cpuSizes: number[];
  reps: number;
  warmup: number;
  maxCaseMs: number;
  torch: boolean;
  torchDevice: 'cuda' | 'cpu';
}

/** GPU-sized defaults: matmul up to 4096^3 on webgpu; the cpu engine stops at 1024. */
export const KIT_DEFAULTS: KitOptions = {
  quick: false, outDir: 'results', sizes: [512, 1024, 2048, 4096], cpuSizes: [256, 1024],
  reps: 10, warmup: 3, maxCaseMs: 5000, torch: true, torchDevice: 'cuda',
};

/** `--quick`: tiny shapes, one rep, for checking the kit itself (on lavapipe, say). */
const QUICK = { sizes: [32], cpuSizes: [32], reps: 1, warmup: 1, maxCaseMs: 2000, batches: [2], trainBatch: 4 };

const USAGE = 'usage: ./run.sh [--quick] [--out-dir DIR] [--sizes 512,1024] [--cpu-sizes 256] [--reps N] [--warmup N] [--max-case-ms N] [--no-torch] [--torch-device cuda|cpu]';

function ints(flag: string, v: string | undefined): number[] {
  const list = (v ?? '').split(',').map(Number);
  if (!v || list.some((n) => !Number.isInteger(n) || n <= 0)) throw new Error(`${flag} takes positive integers, got '${v}'\n${USAGE}`);
  return list;
}

/** Parses run.sh's flags; throws with the usage line on a bad one. */
export function parseKitArgs(argv: readonly string[]): KitOptions {
  const o: KitOptions = { ...KIT_DEFAULTS };
  const given = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const next = (): string | undefined => argv[++i];
    given.add(flag);
    switch (flag) {
      case '--quick': o.quick = true; break;
      case '--out-dir': o.outDir = next() ?? o.outDir; break;
      case '--sizes': o.sizes = ints(flag, next()); break;
      case '--cpu-sizes': o.cpuSizes = ints(flag, next()); break;
      case '--reps': [o.reps] = ints(flag, next()); break;
      case '--warmup': o.warmup = Number(next()); break;
      case '--max-case-ms': [o.maxCaseMs] = ints(flag, next()); break;
      case '--no-torch': o.torch = false; break;
      case '--torch-device': {
        const v = next();
        if (v !== 'cuda' && v !== 'cpu') throw new Error(`--torch-device takes cuda or cpu, got '${v}'\n${USAGE}`);
        o.torchDevice = v;
        break;
      }
      default: throw new Error(`unknown argument '${flag}'\n${USAGE}`);
    }
  }
  if (!Number.isInteger(o.warmup) || o.warmup < 0) throw new Error(`--warmup takes a non-negative integer\n${USAGE}`);
  if (o.quick) {
    if (!given.has('--sizes')) o.sizes = QUICK.sizes;
    if (!given.has('--cpu-sizes')) o.cpuSizes = QUICK.cpuSizes;
    if (!given.has('--reps')) o.reps = QUICK.reps;
    if (!given.has('--warmup')) o.warmup = QUICK.warmup;
    if (!given.has('--max-case-ms')) o.maxCaseMs = QUICK.maxCaseMs;
  }
  return o;
}

/** The harness plan for one engine of the kit. */
export function kitPlan(o: KitOptions, sizes: number[]): PlanOptions {
  return { suites: ['kernels', 'models'], sizes, quick: o.quick, ...(o.quick ? { batches: QUICK.batches, trainBatch: QUICK.trainBatch } : {}) };
}

const rowKey = (r: { bench: string; params: Record<string, number> }): string => `${r.bench} ${JSON.stringify(r.params)}`;

/**
 * Gives each peer record the rate of the Kiln record of the same workload (the same FLOPs or
 * bytes over the peer's own median), so the peer's formulas never have to be written twice.
 */
export function ratesFromKiln(peer: BenchRecord[], kiln: readonly BenchRecord[]): BenchRecord[] {
  const byRow = new Map(kiln.map((r) => [rowKey(r), r]));
  return peer.map((r) => {
    const k = byRow.get(rowKey(r));
    if (!k) return r;
    const out = { ...r };
    if (k.gflops !== undefined) out.gflops = (k.gflops * k.medianMs) / r.medianMs;
    if (k.gbps !== undefined) out.gbps = (k.gbps * k.medianMs) / r.medianMs;
    return out;
  });
}

interface TorchResult { available: true | string; info?: Record<string, unknown>; records?: BenchRecord[]; skipped?: SkippedRecord[] }

/** Runs torch_peer.py over the workloads; never throws (a missing torch is a reason). */
function runTorch(o: KitOptions, kitDir: string, workloads: { bench: string; params: Record<string, number> }[]): TorchResult {
  const planFile = path.join(o.outDir, 'torch-plan.json');
  const outFile = path.join(o.outDir, 'torch.json');
  writeFileSync(planFile, JSON.stringify({ workloads, reps: o.reps, warmup: o.warmup, maxCaseMs: o.maxCaseMs, device: o.torchDevice }, null, 2));
  const r = spawnSync(process.env.KIT_PYTHON ?? 'python3', [path.join(kitDir, 'torch_peer.py'), planFile, outFile], { stdio: ['ignore', 2, 2], timeout: 15 * 60_000 });
  if (r.error) return { available: `python3 did not run: ${r.error.message}` };
  if (!existsSync(outFile)) return { available: `torch_peer.py wrote nothing (exit ${r.status ?? r.signal})` };
  return JSON.parse(readFileSync(outFile, 'utf8')) as TorchResult;
}

export async function runKit(o: KitOptions, kitDir: string): Promise<{ report: Report; markdown: string }> {
  mkdirSync(o.outDir, { recursive: true });
  const common: Partial<BenchOptions> = {
    suite: 'all', reps: o.reps, warmup: o.warmup, maxCaseMs: o.maxCaseMs, quick: o.quick, out: null,
    worker: path.join(kitDir, 'engine-worker.mjs'), workerExecArgv: [],
    ...(o.quick ? { batches: QUICK.batches, trainBatch: QUICK.trainBatch } : {}),
  };
  const gpu = await runBench({ ...common, backends: ['kiln-webgpu'], sizes: o.sizes });
  const cpu = await runBench({ ...common, backends: ['kiln-cpu'], sizes: o.cpuSizes });
  const kiln = [...gpu.report.records, ...cpu.report.records];
  const engines: EngineSummary[] = [...gpu.report.header.engines, ...cpu.report.header.engines];
  const records = [...kiln];
  const skipped = [...gpu.report.skipped, ...cpu.report.skipped];
  if (o.torch) {
    const workloads = planWorkloads(kitPlan(o, o.sizes)).map((w) => ({ bench: w.bench, params: w.params }));
    const t = runTorch(o, kitDir, workloads);
    engines.push({ id: `torch-${o.torchDevice}`, engine: 'torch', backend: o.torchDevice, available: t.available, ...(t.info ? { info: t.info } : {}) });
    records.push(...ratesFromKiln(t.records ?? [], kiln));
    skipped.push(...(t.skipped ?? []));
  }
  const infoFile = path.join(kitDir, 'kit-info.json');
  const kit = existsSync(infoFile) ? (JSON.parse(readFileSync(infoFile, 'utf8')) as { commit?: string }) : null;
  // The kit has no TF.js and no repository around it: list what it has, Kiln by commit.
  const packages = Object.fromEntries(Object.entries(gpu.report.header.packages).filter(([, v]) => v !== null));
  const header = { ...gpu.report.header, packages: { ...packages, kiln: kit?.commit ?? null }, options: { ...o, kit }, engines };
  const report: Report = { header, records, skipped };
  const markdown = renderReport(report);
  writeFileSync(path.join(o.outDir, 'report.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(path.join(o.outDir, 'report.md'), `${markdown}\n`);
  return { report, markdown };
}

async function main(): Promise<number> {
  let o: KitOptions;
  try {
    o = parseKitArgs(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n`);
    return 2;
  }
  const { report, markdown } = await runKit(o, path.dirname(fileURLToPath(import.meta.url)));
  process.stdout.write(`${markdown}\n`);
  process.stderr.write(`wrote ${path.join(o.outDir, 'report.json')} and report.md\n`);
  return report.records.some((r) => r.engine === 'kiln') ? 0 : 1;
}

// Only as the bundle's entry (run.sh), not when a test imports this module.
if (process.env.KILN_GPU_KIT_MAIN === '1') {
  main().then((code) => process.exit(code), (e: unknown) => {
    process.stderr.write(`${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  });
}

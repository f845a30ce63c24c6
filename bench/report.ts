/** Bench results: the JSON record format and the markdown table printed on stdout. */
import type { MemoryReport } from 'kiln';
import type { AdapterSummary } from './gpu';

export interface BenchRecord {
  engine: string;
  backend: string;
  bench: string;
  params: Record<string, number>;
  medianMs: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  /** Interquartile range / median. */
  spread: number;
  reps: number;
  warmup: number;
  samplesMs: number[];
  /** From the case's flops and the median time. */
  gflops?: number;
  /** From the case's minimum bytes and the median time. */
  gbps?: number;
  /** Kiln: the compiled program's device memory (peak, and intermediates planned vs unshared). */
  memory?: MemoryReport;
}

export interface SkippedRecord {
  engine: string;
  backend: string;
  bench: string;
  params: Record<string, number>;
  reason: string;
}

export interface EngineSummary {
  id: string;
  engine: string;
  backend: string;
  /** true, or why the engine could not run here. */
  available: true | string;
  info?: Record<string, unknown>;
  /** How the engine's child process ended, when not with exit 0 ('crashed: signal SIGSEGV'). */
  exit?: string;
}

export interface ReportHeader {
  date: string;
  node: string;
  platform: string;
  arch: string;
  cpu: { model: string; cores: number };
  memoryGiB: number;
  /** Dawn's default adapter; null when no WebGPU engine was asked for; a string when none. */
  adapter: AdapterSummary | string | null;
  packages: Record<string, string | null>;
  options: Record<string, unknown>;
  engines: EngineSummary[];
}

export interface Report {
  header: ReportHeader;
  records: BenchRecord[];
  skipped: SkippedRecord[];
}

export const engineId = (r: { engine: string; backend: string }): string => `${r.engine}-${r.backend}`;

function compactCount(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n / (1 << 20)}M`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n / (1 << 10)}K`;
  return String(n);
}

/** A short human label for a benchmark's parameters. */
export function formatParams(bench: string, p: Record<string, number>): string {
  switch (bench) {
    case 'matmul':
      return `${p.m}x${p.k}x${p.n}`;
    case 'elementwiseChain':
      return `n=${compactCount(p.n!)}`;
    case 'reduceSum':
    case 'softmax':
      return `${p.rows}x${p.cols}`;
    case 'conv2d':
      return `b${p.batch} ${p.height}x${p.width}x${p.inChannels}->${p.outChannels} k${p.kernel} s${p.stride} p${p.padding}`;
    default:
      return Object.entries(p)
        .map(([k, v]) => `${k}=${v}`)
        .join(' ');
  }
}

export function formatMs(ms: number): string {
  if (ms >= 100) return ms.toFixed(0);
  if (ms >= 10) return ms.toFixed(1);
  if (ms >= 1) return ms.toFixed(2);
  return ms.toFixed(3);
}

function formatRate(r: BenchRecord): string {
  if (r.gflops !== undefined && (r.bench === 'matmul' || r.bench === 'conv2d')) return `${r.gflops.toFixed(1)} GFLOP/s`;
  if (r.gbps !== undefined && r.bench !== 'matmul' && r.bench !== 'conv2d') return `${r.gbps.toFixed(1)} GB/s`;
  return '';
}

/** One table cell: median ms, the rate where it means something, and the spread when it is large. */
export function formatCell(r: BenchRecord): string {
  const parts = [`${formatMs(r.medianMs)} ms`];
  const rate = formatRate(r);
  if (rate) parts.push(rate);
  let cell = parts.join(' · ');
  if (r.spread > 0.1) cell += ` ±${Math.round(r.spread * 100)}%`;
  return cell;
}

/** Mebibytes with two decimals, for the memory column. */
const mib = (bytes: number): string => (bytes / 2 ** 20).toFixed(2);

/** The memory column's cell: peak MiB, then the intermediates as planned / unshared. */
export function formatMemory(m: MemoryReport): string {
  return `${mib(m.peakBytes)} (${mib(m.plannedBytes)} / ${mib(m.intermediateBytes)})`;
}

/**
 * Markdown table: a row per benchmark and parameters, a column per engine (median ms and
 * GFLOP/s or GB/s), then a `kiln-X/tfjs-Y` (or `kiln-X/torch-Y`, the GPU kit's peer) column per
 * pair: the other engine's median / kiln median, so above
 * 1 means Kiln is faster; when Kiln records carry memory, a last column gives the program's
 * peak device memory in MiB and its intermediates as the memory plan holds them / unshared.
 */
export function markdownTable(records: readonly BenchRecord[], skipped: readonly SkippedRecord[] = []): string {
  const engines: string[] = [];
  for (const r of [...records, ...skipped]) if (!engines.includes(engineId(r))) engines.push(engineId(r));
  const kiln = engines.filter((e) => e.startsWith('kiln-'));
  const others = engines.filter((e) => !e.startsWith('kiln-'));
  const pairs = kiln.flatMap((k) => others.filter((o) => o.startsWith('tfjs-') || o.startsWith('torch-')).map((t) => [k, t] as const));

  const rows = new Map<string, { bench: string; params: string; cells: Map<string, BenchRecord | SkippedRecord> }>();
  const rowOf = (r: BenchRecord | SkippedRecord) => {
    const params = formatParams(r.bench, r.params);
    const key = `${r.bench}\u0000${params}`;
    let row = rows.get(key);
    if (!row) rows.set(key, (row = { bench: r.bench, params, cells: new Map() }));
    return row;
  };
  for (const r of records) rowOf(r).cells.set(engineId(r), r);
  for (const s of skipped) rowOf(s).cells.set(engineId(s), s);

  const withMemory = records.some((r) => r.memory);
  const header = ['bench', 'params', ...engines, ...pairs.map(([k, t]) => `${k}/${t}`), ...(withMemory ? ['kiln MiB: peak (intermediates planned / unshared)'] : [])];
  const align = ['---', '---', ...engines.map(() => '---:'), ...pairs.map(() => '---:'), ...(withMemory ? ['---:'] : [])];
  const lines = [`| ${header.join(' | ')} |`, `| ${align.join(' | ')} |`];
  for (const row of rows.values()) {
    const cell = (id: string): string => {
      const c = row.cells.get(id);
      if (!c) return '';
      if ('medianMs' in c) return formatCell(c);
      return /^(crashed|hung)\b/.test(c.reason) ? c.reason.split(':')[0]! : 'skipped';
    };
    const ratio = (k: string, t: string): string => {
      const a = row.cells.get(k);
      const b = row.cells.get(t);
      if (!a || !b || !('medianMs' in a) || !('medianMs' in b) || a.medianMs <= 0) return '';
      return `${(b.medianMs / a.medianMs).toFixed(2)}x`;
    };
    const memory = (): string[] => {
      if (!withMemory) return [];
      const m = [...row.cells.values()].find((c): c is BenchRecord => 'memory' in c && c.memory !== undefined);
      return [m ? formatMemory(m.memory!) : ''];
    };
    lines.push(`| ${[row.bench, row.params, ...engines.map(cell), ...pairs.map(([k, t]) => ratio(k, t)), ...memory()].join(' | ')} |`);
  }
  return lines.join('\n');
}

/** The whole stdout report: environment lines, the table, and why anything was skipped. */
export function renderReport(report: Report): string {
  const h = report.header;
  const adapter =
    h.adapter === null ? 'not queried' : typeof h.adapter === 'string' ? h.adapter : `${h.adapter.description || h.adapter.device} (${h.adapter.vendor}, ${h.adapter.architecture})`;
  const out = [
    `# Kiln bench ${h.date}`,
    '',
    `- CPU: ${h.cpu.model} x${h.cpu.cores}, node ${h.node}, ${h.platform}-${h.arch}`,
    `- WebGPU adapter: ${adapter}`,
    `- packages: ${Object.entries(h.packages)
      .map(([k, v]) => `${k}@${v ?? '?'}`)
      .join(', ')}`,
    ...h.engines.filter((e) => e.available !== true).map((e) => `- ${e.id} unavailable: ${e.available}`),
    ...h.engines.filter((e) => e.exit).map((e) => `- ${e.id} engine process ${e.exit} at exit`),
    '',
    markdownTable(report.records, report.skipped),
  ];
  const reasons = new Map<string, string>();
  for (const s of report.skipped) reasons.set(`${engineId(s)} ${s.bench}`, s.reason);
  if (reasons.size > 0) {
    out.push('', 'Skipped:');
    for (const [what, why] of reasons) out.push(`- ${what}: ${why}`);
  }
  const peers = [...new Set(h.engines.filter((e) => (e.engine === 'tfjs' || e.engine === 'torch') && e.available === true).map((e) => e.engine))];
  if (h.engines.some((e) => e.engine === 'kiln' && e.available === true) && peers.length > 0) {
    out.push('', `Ratio columns: ${peers.join(' or ')} median / kiln median (above 1: Kiln is faster).`);
  }
  return out.join('\n');
}

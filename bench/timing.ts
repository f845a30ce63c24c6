/** Timing loop and summary statistics for the bench harness. */

export interface TimingOptions {
  /** Untimed iterations first (pipeline compilation, buffer pools, JIT). */
  warmup: number;
  /** Timed iterations wanted. */
  reps: number;
  /**
   * Stop early once this many milliseconds have been spent, counted separately for warm-up and
   * for timed iterations (at least one timed iteration always runs). Keeps a slow backend from
   * taking hours on large sizes.
   */
  maxTimeMs?: number;
  /** Clock, injectable for tests. */
  now?: () => number;
}

export interface Stats {
  medianMs: number;
  minMs: number;
  maxMs: number;
  meanMs: number;
  /** Interquartile range relative to the median (0 when fewer than two samples). */
  spread: number;
  /** Timed iterations actually run. */
  reps: number;
  samplesMs: number[];
}

/** Runs `fn` warmup times untimed, then up to reps times timed, and summarises the timings. */
export async function measure(fn: () => Promise<void>, options: TimingOptions): Promise<Stats> {
  const now = options.now ?? (() => performance.now());
  const budget = options.maxTimeMs ?? Infinity;
  let warm = 0;
  for (let i = 0; i < options.warmup && warm < budget; i++) {
    const t0 = now();
    await fn();
    warm += now() - t0;
  }
  const samples: number[] = [];
  let spent = 0;
  for (let i = 0; i < Math.max(1, options.reps); i++) {
    const t0 = now();
    await fn();
    const dt = now() - t0;
    samples.push(dt);
    spent += dt;
    if (spent >= budget) break;
  }
  return summarize(samples);
}

/** Linear-interpolated quantile (type 7, as NumPy's default) of an ascending-sorted array. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) throw new Error('quantile of an empty sample');
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

export function median(values: readonly number[]): number {
  return quantile([...values].sort((a, b) => a - b), 0.5);
}

/** Interquartile range divided by the median: a robust relative spread. */
export function relativeIqr(values: readonly number[]): number {
  if (values.length < 2) return 0;
  const sorted = [...values].sort((a, b) => a - b);
  const med = quantile(sorted, 0.5);
  return med === 0 ? 0 : (quantile(sorted, 0.75) - quantile(sorted, 0.25)) / med;
}

export function summarize(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error('no samples to summarize');
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    medianMs: quantile(sorted, 0.5),
    minMs: sorted[0]!,
    maxMs: sorted[sorted.length - 1]!,
    meanMs: sorted.reduce((a, b) => a + b, 0) / sorted.length,
    spread: relativeIqr(sorted),
    reps: sorted.length,
    samplesMs: [...samples],
  };
}

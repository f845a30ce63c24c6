/**
 * A one-line training progress bar:
 *
 *   epoch 1/5 [=====>                        ] 12800/60000 5321 samples/s loss 0.2345 ETA 9s
 *
 * Redrawn in place (carriage return) at most ~10 times a second, and only on an
 * interactive terminal. In CI logs and pipes in-place redraws turn into thousands of lines,
 * so there it stays silent and the caller prints one summary line per epoch.
 */

/** The part of a Node writable stream the bar needs (process.stderr fits). */
export interface ProgressStream {
  write(chunk: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

/** Options of `ProgressBar`. */
export interface ProgressBarOptions {
  /** Samples (or steps) in one full bar. */
  total: number;
  /** Text before the bar, e.g. `epoch 1/5`. */
  label?: string;
  /** Default `process.stderr`; without one (a browser) the bar is silent. */
  stream?: ProgressStream;
  /** Bar width in characters between the brackets (default 30). */
  width?: number;
  /** Minimum time between redraws, ms (default 100, i.e. ~10 Hz). */
  intervalMs?: number;
  /** Environment to read `CI` from (default `process.env`); injectable for tests. */
  env?: Record<string, string | undefined>;
  /** Clock in ms (default `performance.now`); injectable for tests. */
  now?: () => number;
}

/** `CI=true`, `CI=1`, ... mean CI; unset, empty, `0` and `false` do not. */
function isCI(env: Record<string, string | undefined>): boolean {
  const v = env['CI'];
  return v !== undefined && v !== '' && v !== '0' && v.toLowerCase() !== 'false';
}

/** 4 decimals for typical losses/accuracies, exponent form for very small or large values. */
export function formatMetric(v: number): string {
  if (Number.isInteger(v)) return String(v);
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(3) : v.toFixed(4);
}

/** `9s`, `2m05s`, `1h03m`. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/**
 * @example
 * const bar = new ProgressBar({ total: train.count, label: `epoch ${e + 1}/${epochs}` });
 * for (const b of batches(ds, { batchSize: 128, shuffle: true, seed: 1, epoch: e })) {
 *   done += b.size;
 *   bar.update(done, { loss });
 * }
 * bar.finish();
 */
export class ProgressBar {
  /** Whether this bar draws at all (a TTY stream and not CI). */
  readonly enabled: boolean;
  private readonly total: number;
  private readonly label: string;
  private readonly stream: ProgressStream | undefined;
  private readonly width: number;
  private readonly intervalMs: number;
  private readonly now: () => number;
  private readonly start: number;
  private lastDraw = -Infinity;
  private done = 0;
  private metrics: Record<string, number> = {};
  private dirty = false;
  private finished = false;

  constructor(options: ProgressBarOptions) {
    if (!(options.total > 0)) throw new RangeError(`ProgressBar: total must be > 0, got ${options.total}`);
    this.total = options.total;
    this.label = options.label ?? '';
    this.stream = options.stream ?? globalThis.process?.stderr;
    this.width = options.width ?? 30;
    this.intervalMs = options.intervalMs ?? 100;
    this.now = options.now ?? (() => performance.now());
    const env = options.env ?? globalThis.process?.env ?? {};
    this.enabled = this.stream?.isTTY === true && !isCI(env);
    this.start = this.now();
  }

  /** Records progress; redraws if enough time has passed since the last redraw. */
  update(done: number, metrics: Record<string, number> = {}): void {
    if (this.finished) return;
    this.done = done;
    this.metrics = metrics;
    this.dirty = true;
    if (!this.enabled) return;
    const t = this.now();
    if (t - this.lastDraw >= this.intervalMs) this.draw(t);
  }

  /** Draws the final state (if a throttled update is pending) and ends the line. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (!this.enabled) return;
    if (this.dirty) this.draw(this.now());
    if (this.lastDraw !== -Infinity) this.stream!.write('\n');
  }

  /** The line as it would be drawn at time `t` (ms, same clock as `now`). */
  render(t = this.now()): string {
    const frac = Math.min(1, Math.max(0, this.done / this.total));
    const filled = Math.floor(frac * this.width);
    const bar = frac >= 1 ? '='.repeat(this.width) : '='.repeat(Math.max(0, filled - 1)) + '>' + ' '.repeat(this.width - Math.max(1, filled));
    const seconds = (t - this.start) / 1000;
    const rate = seconds > 0 ? this.done / seconds : 0;
    const parts = [`${this.label ? this.label + ' ' : ''}[${bar}] ${this.done}/${this.total}`];
    if (rate > 0) parts.push(`${Math.round(rate)} samples/s`);
    for (const [k, v] of Object.entries(this.metrics)) parts.push(`${k} ${formatMetric(v)}`);
    if (rate > 0 && frac < 1) parts.push(`ETA ${formatDuration((this.total - this.done) / rate)}`);
    return parts.join(' ');
  }

  private draw(t: number): void {
    let line = this.render(t);
    // A line that wraps can no longer be overwritten with \r: cut it to the terminal width.
    const cols = this.stream!.columns;
    if (cols !== undefined && cols > 1 && line.length > cols - 1) line = line.slice(0, cols - 1);
    // \x1b[K clears what a longer previous line left to the right.
    this.stream!.write(`\r${line}\x1b[K`);
    this.lastDraw = t;
    this.dirty = false;
  }
}

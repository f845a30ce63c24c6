/**
 * Probe gpu.js 2.24.1's CPU modes for the kernel families Kiln needs: correctness of each
 * formulation and its speed, to decide which mode runs which family.
 *
 *   pnpm exec tsx packages/cpu/scripts/probe.ts [--quick]
 *
 * Modes measured:
 *   js          Kiln's own generated JavaScript (what gpu.js 'cpu' mode does, without its
 *               per-call allocation and per-cell `this.thread` writes), writing in place.
 *   cpu         gpu.js mode 'cpu' (transpiled JavaScript).
 *   webasm      gpu.js mode 'webasm', synchronous (one thread, f32x4 SIMD).
 *   webasm-mt   gpu.js mode 'webasm' under the async contract (worker pool over shared memory).
 */
import os from 'node:os';
import gpujs from 'gpu.js';
import { createGemmEngine, gemmJs } from '../src/gemm';

const { GPU } = gpujs as unknown as typeof import('gpu.js');
const quick = process.argv.includes('--quick');

type Fn = () => unknown;
async function time(fn: Fn, reps: number): Promise<number> {
  for (let i = 0; i < 2; i++) await fn();
  const ts: number[] = [];
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    await fn();
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  return ts[Math.floor(ts.length / 2)]!;
}

function flat(r: unknown): Float32Array {
  if (r instanceof Float32Array) return r;
  const rows = r as ArrayLike<unknown>;
  const parts = Array.from(rows, (x) => flat(x));
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function maxErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let e = 0;
  for (let i = 0; i < a.length; i++) e = Math.max(e, Math.abs(a[i]! - b[i]!) / (1 + Math.abs(b[i]!)));
  return a.length === b.length ? e : Infinity;
}

const rows: { family: string; variant: string; mode: string; ms: number; err: number; note?: string }[] = [];
function report(family: string, variant: string, mode: string, ms: number, err: number, note?: string) {
  rows.push({ family, variant, mode, ms, err, note });
  console.log(`${family.padEnd(22)} ${variant.padEnd(16)} ${mode.padEnd(10)} ${ms.toFixed(2).padStart(9)} ms  err ${err.toExponential(1)}${note ? `  (${note})` : ''}`);
}

const rand = (n: number, seed = 1) => {
  const a = new Float32Array(n);
  let s = seed;
  for (let i = 0; i < n; i++) { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; a[i] = (s / 2 ** 32) * 2 - 1; }
  return a;
};

type Mode = 'cpu' | 'webasm' | 'webasm-mt';
const gpus = new Map<string, InstanceType<typeof GPU>>();
function kernel(mode: Mode, src: string, settings: Record<string, unknown>) {
  const gmode = mode === 'webasm-mt' ? 'webasm' : mode;
  let gpu = gpus.get(mode);
  if (!gpu) { gpu = new GPU({ mode: gmode as 'cpu' }); gpus.set(mode, gpu); }
  const k = gpu.createKernel(src, { ...settings, ...(mode === 'webasm-mt' ? { asyncMode: true } : {}) }) as unknown as ((...a: unknown[]) => unknown) & { kernel: { constructor: { mode: string }; fallbackReason?: string } };
  return k;
}

// ------------------------------------------------------------ elementwise
async function elementwise(n: number) {
  const x = rand(n, 1), y = rand(n, 2);
  const ref = new Float32Array(n);
  for (let i = 0; i < n; i++) ref[i] = x[i]! * y[i]! + Math.exp(-x[i]!);
  const out = new Float32Array(n);
  const js = new Function('x', 'y', 'out', 'n', 'for (let i = 0; i < n; i++) { const a = x[i], b = y[i]; out[i] = a * b + Math.exp(-a); }') as (...a: unknown[]) => void;
  report(`elementwise ${n}`, 'x*y+exp(-x)', 'js', await time(() => js(x, y, out, n), 20), maxErr(out, ref));
  const src = 'function(x, y) { const a = x[this.thread.x]; return a * y[this.thread.x] + Math.exp(-a); }';
  for (const mode of ['cpu', 'webasm', 'webasm-mt'] as Mode[]) {
    const k = kernel(mode, src, { output: [n] });
    let r: unknown;
    const ms = await time(async () => { r = await k(x, y); }, quick ? 5 : 20);
    report(`elementwise ${n}`, 'x*y+exp(-x)', mode, ms, maxErr(flat(r), ref), k.kernel.constructor.mode);
  }
  // A cheap op (memory bound): add
  const refAdd = new Float32Array(n);
  for (let i = 0; i < n; i++) refAdd[i] = x[i]! + y[i]!;
  const jsAdd = new Function('x', 'y', 'out', 'n', 'for (let i = 0; i < n; i++) out[i] = x[i] + y[i];') as (...a: unknown[]) => void;
  report(`elementwise ${n}`, 'x+y', 'js', await time(() => jsAdd(x, y, out, n), 20), maxErr(out, refAdd));
  for (const mode of ['cpu', 'webasm', 'webasm-mt'] as Mode[]) {
    const k = kernel(mode, 'function(x, y) { return x[this.thread.x] + y[this.thread.x]; }', { output: [n] });
    let r: unknown;
    const ms = await time(async () => { r = await k(x, y); }, quick ? 5 : 20);
    report(`elementwise ${n}`, 'x+y', mode, ms, maxErr(flat(r), refAdd));
  }
}

// ------------------------------------------------------------ matmul
function matmulRef(a: Float32Array, b: Float32Array, M: number, K: number, N: number): Float64Array {
  const r = new Float64Array(M * N);
  for (let i = 0; i < M; i++) for (let k = 0; k < K; k++) {
    const av = a[i * K + k]!;
    for (let j = 0; j < N; j++) r[i * N + j]! += av * b[k * N + j]!;
  }
  return r;
}

/** Blocked i-k-j matmul with a 4-row register tile: rows of B stream contiguously. */
const JS_BLOCKED = `
  const KB = 128;
  out.fill(0, 0, M * N);
  for (let k0 = 0; k0 < K; k0 += KB) {
    const k1 = Math.min(K, k0 + KB);
    let i = 0;
    for (; i + 4 <= M; i += 4) {
      const o0 = i * N, o1 = o0 + N, o2 = o1 + N, o3 = o2 + N;
      for (let k = k0; k < k1; k++) {
        const a0 = a[i * K + k], a1 = a[(i + 1) * K + k], a2 = a[(i + 2) * K + k], a3 = a[(i + 3) * K + k];
        const bo = k * N;
        for (let j = 0; j < N; j++) {
          const bv = b[bo + j];
          out[o0 + j] += a0 * bv; out[o1 + j] += a1 * bv; out[o2 + j] += a2 * bv; out[o3 + j] += a3 * bv;
        }
      }
    }
    for (; i < M; i++) {
      const o = i * N;
      for (let k = k0; k < k1; k++) {
        const av = a[i * K + k], bo = k * N;
        for (let j = 0; j < N; j++) out[o + j] += av * b[bo + j];
      }
    }
  }`;

async function matmul(M: number, K: number, N: number) {
  const a = rand(M * K, 3), b = rand(K * N, 4);
  const ref = matmulRef(a, b, M, K, N);
  const fam = `matmul ${M}x${K}x${N}`;
  const out = new Float32Array(M * N);
  const acc = new Float64Array(M * N);
  const naive = new Function('a', 'b', 'out', 'M', 'K', 'N', `for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) { let s = 0; for (let k = 0; k < K; k++) s += a[i * K + k] * b[k * N + j]; out[i * N + j] = s; }`) as (...x: unknown[]) => void;
  report(fam, 'naive', 'js', await time(() => naive(a, b, out, M, K, N), quick ? 3 : 10), maxErr(out, ref));
  const blocked = new Function('a', 'b', 'out', 'M', 'K', 'N', JS_BLOCKED) as (...x: unknown[]) => void;
  report(fam, 'blocked-ikj', 'js', await time(() => blocked(a, b, out, M, K, N), quick ? 3 : 10), maxErr(out, ref));
  const blocked64 = new Function('a', 'b', 'out', 'M', 'K', 'N', JS_BLOCKED) as (...x: unknown[]) => void;
  report(fam, 'blocked-ikj-f64', 'js', await time(() => blocked64(a, b, acc, M, K, N), quick ? 3 : 10), maxErr(acc, ref), 'f64 accumulator');

  const naiveSrc = `function(a, b) { let s = 0; for (let k = 0; k < this.constants.K; k++) { s += a[this.thread.y * this.constants.K + k] * b[k * this.constants.N + this.thread.x]; } return s; }`;
  // k unrolled by 4 with independent accumulators (K padded to a multiple of 4 by the caller here).
  const unrollSrc = `function(a, b) {
    let s0 = 0; let s1 = 0; let s2 = 0; let s3 = 0;
    const ao = this.thread.y * this.constants.K; const x = this.thread.x; const N = this.constants.N;
    for (let k = 0; k < this.constants.K; k += 4) {
      s0 += a[ao + k] * b[k * N + x];
      s1 += a[ao + k + 1] * b[(k + 1) * N + x];
      s2 += a[ao + k + 2] * b[(k + 2) * N + x];
      s3 += a[ao + k + 3] * b[(k + 3) * N + x];
    }
    return (s0 + s1) + (s2 + s3); }`;
  // B transposed: both operands contiguous along k (a dot product per cell).
  const btSrc = `function(a, bt) { let s = 0; const ao = this.thread.y * this.constants.K; const bo = this.thread.x * this.constants.K; for (let k = 0; k < this.constants.K; k++) { s += a[ao + k] * bt[bo + k]; } return s; }`;
  const bt = new Float32Array(K * N);
  for (let k = 0; k < K; k++) for (let j = 0; j < N; j++) bt[j * K + k] = b[k * N + j]!;
  const settings = { output: [N, M], constants: { K, N }, loopMaxIterations: K + 4 };
  const variants: [string, string, Float32Array][] = [['naive', naiveSrc, b], ['unroll4', unrollSrc, b], ['bT-dot', btSrc, bt]];
  for (const mode of ['cpu', 'webasm', 'webasm-mt'] as Mode[]) {
    for (const [name, src, bb] of variants) {
      if (mode === 'cpu' && name !== 'naive') continue;
      if (name === 'unroll4' && K % 4) continue;
      const k = kernel(mode, src, settings);
      let r: unknown;
      const ms = await time(async () => { r = await k(a, bb); }, quick ? 3 : 10);
      report(fam, name, mode, ms, maxErr(flat(r), ref), k.kernel.constructor.mode);
    }
  }
}

// ------------------------------------------------------------ conv2d
async function conv(N: number, C: number, H: number, W: number, O: number, KH: number) {
  const x = rand(N * C * H * W, 5), w = rand(O * C * KH * KH, 6);
  const OH = H - KH + 1, OW = W - KH + 1; // valid, stride 1
  const ref = new Float64Array(N * O * OH * OW);
  for (let n = 0; n < N; n++) for (let o = 0; o < O; o++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    let s = 0;
    for (let c = 0; c < C; c++) for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KH; kx++) s += x[((n * C + c) * H + oy + ky) * W + ox + kx]! * w[((o * C + c) * KH + ky) * KH + kx]!;
    ref[((n * O + o) * OH + oy) * OW + ox] = s;
  }
  const fam = `conv ${N}x${C}x${H}x${W} * ${O}x${C}x${KH}x${KH}`;
  const out = new Float32Array(ref.length);
  const direct = new Function('x', 'w', 'out', `
    for (let n = 0; n < ${N}; n++) for (let o = 0; o < ${O}; o++) for (let oy = 0; oy < ${OH}; oy++) for (let ox = 0; ox < ${OW}; ox++) {
      let s = 0;
      for (let c = 0; c < ${C}; c++) for (let ky = 0; ky < ${KH}; ky++) { const xo = ((n * ${C} + c) * ${H} + oy + ky) * ${W} + ox, wo = ((o * ${C} + c) * ${KH} + ky) * ${KH}; for (let kx = 0; kx < ${KH}; kx++) s += x[xo + kx] * w[wo + kx]; }
      out[((n * ${O} + o) * ${OH} + oy) * ${OW} + ox] = s;
    }`) as (...a: unknown[]) => void;
  report(fam, 'direct', 'js', await time(() => direct(x, w, out), quick ? 3 : 10), maxErr(out, ref));
  // im2col (JS) + blocked matmul (JS): cols [C*KH*KW, OH*OW] per image; W [O, C*KH*KW].
  const CK = C * KH * KH, P = OH * OW;
  const cols = new Float32Array(CK * P);
  const mm = new Function('a', 'b', 'out', 'M', 'K', 'N', JS_BLOCKED) as (...a: unknown[]) => void;
  const im2col = (n: number) => {
    for (let c = 0; c < C; c++) for (let ky = 0; ky < KH; ky++) for (let kx = 0; kx < KH; kx++) {
      const row = ((c * KH + ky) * KH + kx) * P;
      for (let oy = 0; oy < OH; oy++) {
        const xo = ((n * C + c) * H + oy + ky) * W + kx;
        for (let ox = 0; ox < OW; ox++) cols[row + oy * OW + ox] = x[xo + ox]!;
      }
    }
  };
  const viaMatmul = () => {
    for (let n = 0; n < N; n++) { im2col(n); mm(w, cols, out.subarray(n * O * P), O, CK, P); }
  };
  report(fam, 'im2col+blocked', 'js', await time(viaMatmul, quick ? 3 : 10), maxErr(out, ref));
  const src = `function(x, w) {
    const ox = this.thread.x; const oy = this.thread.y; const no = this.thread.z;
    const n = Math.floor(no / ${O}); const o = no - n * ${O};
    let s = 0;
    for (let c = 0; c < ${C}; c++) { for (let ky = 0; ky < ${KH}; ky++) { for (let kx = 0; kx < ${KH}; kx++) {
      s += x[((n * ${C} + c) * ${H} + oy + ky) * ${W} + ox + kx] * w[((o * ${C} + c) * ${KH} + ky) * ${KH} + kx];
    } } }
    return s; }`;
  for (const mode of ['cpu', 'webasm', 'webasm-mt'] as Mode[]) {
    const k = kernel(mode, src, { output: [OW, OH, N * O] });
    let r: unknown;
    const ms = await time(async () => { r = await k(x, w); }, quick ? 3 : 10);
    report(fam, 'direct', mode, ms, maxErr(flat(r), ref), k.kernel.constructor.mode);
  }
}

// ------------------------------------------------------------ reduce (sum over last axis)
async function reduce(R: number, L: number) {
  const x = rand(R * L, 7);
  const ref = new Float64Array(R);
  for (let r = 0; r < R; r++) for (let i = 0; i < L; i++) ref[r]! += x[r * L + i]!;
  const fam = `sum rows ${R}x${L}`;
  const out = new Float32Array(R);
  const js = new Function('x', 'out', `for (let r = 0; r < ${R}; r++) { let s = 0; for (let i = 0; i < ${L}; i++) s += x[r * ${L} + i]; out[r] = s; }`) as (...a: unknown[]) => void;
  report(fam, 'row loop', 'js', await time(() => js(x, out), 10), maxErr(out, ref));
  for (const mode of ['cpu', 'webasm', 'webasm-mt'] as Mode[]) {
    const k = kernel(mode, `function(x) { let s = 0; for (let i = 0; i < ${L}; i++) { s += x[this.thread.x * ${L} + i]; } return s; }`, { output: [R], loopMaxIterations: L + 1 });
    let r: unknown;
    const ms = await time(async () => { r = await k(x); }, quick ? 3 : 10);
    report(fam, 'row loop', mode, ms, maxErr(flat(r), ref), k.kernel.constructor.mode);
  }
}

// ------------------------------------------------------------ Kiln's final GEMM formulations
/** Interleaved so machine noise hits every formulation alike. */
async function gemmEngines(shapes: [number, number, number][]) {
  const mt = createGemmEngine('webasm', { threads: true });
  const st = createGemmEngine('webasm', { threads: false });
  for (const [M, K, N] of shapes) {
    const a = rand(M * K, 1), b = rand(K * N, 2), c = new Float32Array(M * N), want = new Float32Array(M * N);
    gemmJs(a, 0, b, 0, want, 0, M, K, N, false);
    const calls = { 'js-tile4x4': { run: () => gemmJs(a, 0, b, 0, c, 0, M, K, N, false) }, 'webasm-4row': st.prepare(M, K, N), 'webasm-4row-mt': mt.prepare(M, K, N) };
    const times = new Map<string, number[]>();
    for (let r = 0; r < (quick ? 4 : 12); r++) {
      for (const [name, call] of Object.entries(calls)) {
        const t0 = performance.now();
        await (call as { run: (...x: unknown[]) => unknown }).run(a, 0, b, 0, c, 0, false);
        if (r >= 2) (times.get(name) ?? times.set(name, []).get(name)!).push(performance.now() - t0);
      }
    }
    for (const [name, ts] of times) {
      ts.sort((x, y) => x - y);
      const ms = ts[ts.length >> 1]!;
      report(`gemm ${M}x${K}x${N}`, name.replace(/-mt$/, ''), name.endsWith('-mt') ? 'webasm-mt' : name.startsWith('js') ? 'js' : 'webasm', ms, 0, `${(2 * M * K * N / ms / 1e6).toFixed(2)} GFLOP/s`);
    }
  }
  mt.dispose(); st.dispose();
}

console.log(`node ${process.version}, ${os.cpus().length} CPUs (${os.cpus()[0]?.model}), gpu.js webasm supported: ${GPU.isWebAssemblySupported}`);
if (process.argv.includes('--gemm')) {
  await gemmEngines([[128, 784, 256], [784, 128, 256], [128, 256, 10], [256, 256, 256], [512, 512, 512], [64, 144, 784]]);
  process.exit(0);
}
await elementwise(1 << 20);
await matmul(256, 256, 256);
await matmul(512, 512, 512);
await matmul(128, 784, 256);
await conv(8, 16, 28, 28, 32, 3);
await reduce(4096, 256);
for (const g of gpus.values()) await g.destroy();
console.log('\n| family | variant | mode | ms |\n|---|---|---|---|');
for (const r of rows) console.log(`| ${r.family} | ${r.variant} | ${r.mode} | ${r.ms.toFixed(2)} |`);
process.exit(0);

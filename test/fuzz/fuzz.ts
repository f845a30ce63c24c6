/**
 * The seeded fuzzer shared by test/fuzz: a deterministic random source, mutators for JSON
 * documents and byte strings, and a tally that sorts every outcome into accepted, refused
 * with one of Kiln's typed errors, or a raw crash (any other exception), which is a bug.
 *
 * Each target file tries a fixed number of inputs (BUDGET, at least 10,000 in all) from a
 * fixed seed, so `pnpm test` is deterministic. To hunt for more bugs locally, change the seed
 * and the scale:  KILN_FUZZ_SEED=7 KILN_FUZZ_SCALE=20 pnpm test test/fuzz
 */
import { KilnError, mulberry32 } from '@kiln/core';
import { checkpoint, data } from '@kiln/nn';

/** Inputs tried per target in one run. */
export const BUDGET = { graphJson: 2000, safetensors: 3500, idx: 3500, feeds: 1600 } as const;
export const SEED = Number(process.env.KILN_FUZZ_SEED ?? 20261202);
export const SCALE = Number(process.env.KILN_FUZZ_SCALE ?? 1);

export interface Rng {
  /** Uniform in [0, 1). */
  (): number;
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

export function rng(seed: number): Rng {
  const next = mulberry32(seed);
  const r = (() => next()) as Rng;
  r.int = (n) => Math.floor(next() * n);
  r.pick = (xs) => xs[Math.floor(next() * xs.length)]!;
  r.chance = (p) => next() < p;
  return r;
}

/** Kiln's typed refusals: core's KilnError family and the nn file-format errors. */
export function isTyped(e: unknown): boolean {
  return e instanceof KilnError || e instanceof checkpoint.CheckpointError || e instanceof data.DataFormatError;
}

export class Tally {
  tried = 0;
  accepted = 0;
  refused = 0;
  readonly crashes: string[] = [];
  readonly problems: string[] = [];
  /** Errors by class name, for the summary. */
  readonly kinds = new Map<string, number>();

  /** Sort the outcome of one input; `what` describes it for the report. */
  async try<T>(what: () => string, f: () => T | Promise<T>, typed: (e: unknown) => boolean = isTyped): Promise<{ ok: true; value: T } | { ok: false }> {
    this.tried++;
    try {
      const value = await f();
      this.accepted++;
      return { ok: true, value };
    } catch (e) {
      const name = (e as Error)?.constructor?.name ?? typeof e;
      this.kinds.set(name, (this.kinds.get(name) ?? 0) + 1);
      if (typed(e)) this.refused++;
      else if (this.crashes.length < 20) this.crashes.push(`${name}: ${String((e as Error)?.message ?? e).slice(0, 300)}\n  input: ${what().slice(0, 600)}\n  ${String((e as Error)?.stack ?? '').split('\n').slice(1, 4).join('\n  ')}`);
      else this.crashes.push(name);
      return { ok: false };
    }
  }

  /** A broken invariant after an input was accepted or refused (a partial load, a bad round trip). */
  problem(msg: string): void {
    if (this.problems.length < 20) this.problems.push(msg.slice(0, 800));
    else this.problems.push('…');
  }

  summary(): string {
    return `${this.tried} inputs: ${this.accepted} accepted, ${this.refused} refused typed (${[...this.kinds].map(([k, v]) => `${k} ${v}`).join(', ')}), ${this.crashes.length} raw crashes, ${this.problems.length} broken invariants`;
  }
}

// ---------------------------------------------------------------- JSON mutation

type Json = unknown;

/** Values that tend to break validators: boundaries, wrong types, hostile shapes. */
export function oddValue(r: Rng): Json {
  switch (r.int(24)) {
    case 0: return -1;
    case 1: return 0;
    case 2: return 1;
    case 3: return 2 ** 31;
    case 4: return 2 ** 32;
    case 5: return 2 ** 53 + 2;
    case 6: return 1.5;
    case 7: return -0;
    case 8: return Number.NaN;
    case 9: return r.chance(0.5) ? Infinity : -Infinity;
    case 10: return 1e308;
    case 11: return null;
    case 12: return r.chance(0.5);
    case 13: return '';
    case 14: return r.pick(['batch', 'n', '__training__', '__proto__', 'constructor', 'x', 'w', 'f32', 'i32', 'bool', 'add', 'assign', 'input', 'param']);
    case 15: return [];
    case 16: return {};
    case 17: return [r.int(5), r.int(5)];
    case 18: return [-r.int(5) - 1];
    case 19: { let v: Json = 1; for (let i = 0, n = 20 + r.int(3000); i < n; i++) v = [v]; return v; }
    case 20: return 'x'.repeat(r.int(2000));
    case 21: return r.int(100) - 50;
    case 22: return Array.from({ length: r.int(6) }, () => r.int(4));
    default: return { name: 'x', shape: [2], dtype: 'f32' };
  }
}

/** The containers along a random path into `doc`, root first, with the key to each child. */
function randomPath(doc: Json, r: Rng): { parent: Record<string, Json> | Json[]; key: string | number }[] {
  const path: { parent: Record<string, Json> | Json[]; key: string | number }[] = [];
  let cur = doc;
  for (let depth = 0; depth < 12; depth++) {
    if (cur === null || typeof cur !== 'object') break;
    const keys = Array.isArray(cur) ? cur.map((_, i) => i) : Object.keys(cur);
    if (!keys.length) break;
    const key = r.pick(keys as (string | number)[]);
    path.push({ parent: cur as Record<string, Json>, key });
    cur = (cur as Record<string | number, Json>)[key];
    if (depth > 1 && r.chance(0.25)) break;
  }
  return path;
}

/** Apply one random structural mutation somewhere in `doc` (in place). */
export function mutateJson(doc: Json, r: Rng, vocabulary: { ops: readonly string[] }): void {
  const path = randomPath(doc, r);
  if (!path.length) return;
  const { parent, key } = r.chance(0.3) ? r.pick(path) : path[path.length - 1]!;
  const p = parent as Record<string | number, Json>;
  const v = p[key];
  switch (r.int(11)) {
    case 0: case 1: case 2:
      p[key] = oddValue(r);
      break;
    case 3:
      if (Array.isArray(parent)) parent.splice(key as number, 1);
      else delete p[key];
      break;
    case 4:
      if (Array.isArray(parent)) parent.splice(key as number, 0, structuredClone(v));
      else p[`${key}_extra`] = structuredClone(v);
      break;
    case 5:
      if (Array.isArray(parent) && parent.length > 1) {
        const j = r.int(parent.length);
        [parent[key as number], parent[j]] = [parent[j], parent[key as number]];
      } else p[key] = oddValue(r);
      break;
    case 6:
      if (typeof v === 'number') p[key] = r.pick([v + 1, v - 1, v * 2, -v, v + 0.5, v * 1e6]);
      else p[key] = oddValue(r);
      break;
    case 7:
      p[key] = r.pick(vocabulary.ops);
      break;
    case 8:
      if (Array.isArray(v)) v.push(structuredClone(v[r.int(v.length)] ?? 0));
      else p[key] = [v];
      break;
    case 9:
      if (typeof v === 'string') p[key] = r.pick([v + '_', v.slice(1), v.toUpperCase(), '__' + v, '']);
      else p[key] = oddValue(r);
      break;
    default:
      // Alias a subtree elsewhere (shared references; the validators must not care).
      p[key] = path[0]!.parent;
      if (r.chance(0.7)) p[key] = structuredClone(path[r.int(path.length)]!.parent);
  }
}

// ---------------------------------------------------------------- byte mutation

/** A mutated copy of `bytes`: flipped bits, overwritten runs, cuts, insertions, boundary ints. */
export function mutateBytes(bytes: Uint8Array, r: Rng, hot = bytes.length): Uint8Array {
  let b: Uint8Array = bytes.slice();
  const at = (n: number) => (r.chance(0.7) ? r.int(Math.max(1, Math.min(hot, n))) : r.int(Math.max(1, n)));
  for (let k = 0, n = 1 + r.int(3); k < n; k++) {
    switch (r.int(8)) {
      case 0: if (b.length) { const i = at(b.length); b[i]! ^= 1 << r.int(8); } break;
      case 1: if (b.length) b[at(b.length)] = r.pick([0, 1, 0x7f, 0x80, 0xff, 0x20, 0x22, 0x7b, 0x7d]); break;
      case 2: b = b.slice(0, r.int(b.length + 1)); break;
      case 3: { const i = at(b.length + 1); const ins = Uint8Array.from({ length: 1 + r.int(8) }, () => r.int(256)); b = concatBytes(b.slice(0, i), ins, b.slice(i)); break; }
      case 4: { const i = at(b.length); const n2 = Math.min(b.length - i, 1 + r.int(16)); b = concatBytes(b.slice(0, i), b.slice(i + n2)); break; }
      case 5: if (b.length >= 4) { const i = at(b.length - 3); new DataView(b.buffer).setUint32(i, r.pick([0, 1, 0xffffffff, 0x7fffffff, 0x80000000, r.int(2 ** 32), r.int(64)]), r.chance(0.5)); } break;
      case 6: b = concatBytes(b, Uint8Array.from({ length: 1 + r.int(16) }, () => r.int(256))); break;
      default: if (b.length >= 8) { const i = at(b.length - 7); new DataView(b.buffer).setBigUint64(i, r.pick([0n, 1n, 2n ** 63n, 2n ** 64n - 1n, BigInt(r.int(2 ** 30)), BigInt(r.int(128))]), true); }
    }
  }
  return b;
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((a, p) => a + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Bitwise equality of two typed arrays (NaN payloads and -0 included). */
export function sameBits(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  return x.every((v, i) => v === y[i]);
}

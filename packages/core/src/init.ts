/**
 * Parameter initialisers, computed on the host once at compile time from the graph's
 * seed and the parameter's name, so two compiles of one graph start identically.
 */
import { OptionsError } from './errors';

/** Named parameter initialisers, as Keras names them. */
export type InitName =
  | 'zeros' | 'ones' | 'glorotUniform' | 'glorotNormal' | 'heUniform' | 'heNormal'
  | 'lecunUniform' | 'lecunNormal' | 'uniform' | 'normal' | 'truncatedNormal';

/** Every InitName. */
export const INIT_NAMES: readonly InitName[] = [
  'zeros', 'ones', 'glorotUniform', 'glorotNormal', 'heUniform', 'heNormal',
  'lecunUniform', 'lecunNormal', 'uniform', 'normal', 'truncatedNormal',
];

/** An initialiser: a name, a name with options, a constant fill, or the values themselves. */
export type ParamInit =
  | InitName
  | { name: InitName; scale?: number; mean?: number; std?: number; low?: number; high?: number }
  | { constant: number }
  | Float32Array | Int32Array | number[];

/** mulberry32: tiny, fast, good enough for initial weights; seeded per parameter. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** FNV-1a hash of a string (seeds each param's initialiser by its name). */
export function hashString(s: string, seed = 0x811c9dc5): number {
  let h = seed >>> 0;
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619) >>> 0;
  return h;
}

/** Fan-in/fan-out as Keras computes them: dense [in, out]; conv [out, in/groups, kh, kw]. */
export function fans(shape: readonly number[]): [number, number] {
  if (shape.length === 0) return [1, 1];
  if (shape.length === 1) return [shape[0]!, shape[0]!];
  if (shape.length === 2) return [shape[0]!, shape[1]!];
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return [shape[1]! * receptive, shape[0]! * receptive];
}

function gaussian(rand: () => number): number {
  const u = 1 - rand();
  const v = rand();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** A param's initial values for its shape from its initialiser and a seed; throws OptionsError naming `what` for a bad initialiser. */
export function initValues(init: ParamInit, shape: readonly number[], seed: number, what: string): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1);
  if (init instanceof Float32Array || init instanceof Int32Array || Array.isArray(init)) {
    if (init.length !== n) throw new OptionsError(`${what}: initial values have ${init.length} elements, shape [${shape.join(', ')}] needs ${n}`);
    return Float64Array.from(init as ArrayLike<number>);
  }
  if (typeof init === 'object' && 'constant' in init) return new Float64Array(n).fill(init.constant);
  const o = typeof init === 'string' ? { name: init } : init;
  const rand = mulberry32(seed);
  const out = new Float64Array(n);
  const [fanIn, fanOut] = fans(shape);
  const uniform = (limit: number) => out.forEach((_, i) => (out[i] = (2 * rand() - 1) * limit));
  const normal = (mean: number, std: number) => out.forEach((_, i) => (out[i] = mean + std * gaussian(rand)));
  const scale = o.scale ?? 1;
  switch (o.name) {
    case 'zeros': break;
    case 'ones': out.fill(1); break;
    case 'glorotUniform': uniform(scale * Math.sqrt(6 / (fanIn + fanOut))); break;
    case 'glorotNormal': normal(0, scale * Math.sqrt(2 / (fanIn + fanOut))); break;
    case 'heUniform': uniform(scale * Math.sqrt(6 / fanIn)); break;
    case 'heNormal': normal(0, scale * Math.sqrt(2 / fanIn)); break;
    case 'lecunUniform': uniform(scale * Math.sqrt(3 / fanIn)); break;
    case 'lecunNormal': normal(0, scale * Math.sqrt(1 / fanIn)); break;
    case 'uniform': {
      const lo = o.low ?? -0.05, hi = o.high ?? 0.05;
      out.forEach((_, i) => (out[i] = lo + (hi - lo) * rand()));
      break;
    }
    case 'normal': normal(o.mean ?? 0, o.std ?? 0.05); break;
    case 'truncatedNormal': {
      const mean = o.mean ?? 0, std = o.std ?? 0.05;
      for (let i = 0; i < n; i++) {
        let z: number;
        do z = gaussian(rand); while (Math.abs(z) > 2);
        out[i] = mean + std * z;
      }
      break;
    }
    default: throw new OptionsError(`${what}: unknown initialiser '${(o as { name: string }).name}' (known: ${INIT_NAMES.join(', ')})`);
  }
  return out;
}

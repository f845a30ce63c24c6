/**
 * Index arithmetic shared by the generated kernels: broadcast strides, dimension coalescing,
 * and emission of nested loops that carry one running offset per operand.
 */
import { shapeStrides } from '@kiln/core';

/** Loop dims (outer to inner) and, per operand, the stride of each dim. */
export interface Nest {
  readonly dims: number[];
  readonly strides: number[][];
  /** For each nest dim, the innermost original dim merged into it. */
  readonly origin: number[];
}

/**
 * Drop size-1 dims and merge neighbours that every operand walks contiguously, so that e.g. a
 * same-shape elementwise op of any rank becomes one flat loop. `keep(d)` can pin a dim (pad bounds).
 */
export function coalesce(dims: readonly number[], strides: readonly (readonly number[])[], keep: (d: number) => boolean = () => false): Nest {
  const outDims: number[] = [];
  const outStr: number[][] = strides.map(() => []);
  const pinned: boolean[] = [];
  const origin: number[] = [];
  dims.forEach((n, d) => {
    if (n === 1 && !keep(d)) return;
    const last = outDims.length - 1;
    const mergeable = last >= 0 && !pinned[last] && !keep(d) && strides.every((s, k) => outStr[k]![last] === s[d]! * n);
    if (mergeable) {
      outDims[last] = outDims[last]! * n;
      origin[last] = d;
      strides.forEach((s, k) => (outStr[k]![last] = s[d]!));
    } else {
      outDims.push(n);
      pinned.push(keep(d));
      origin.push(d);
      strides.forEach((s, k) => outStr[k]!.push(s[d]!));
    }
  });
  return { dims: outDims, strides: outStr, origin };
}

export interface NestBody {
  /** Base offset of each operand (a literal or a variable name). */
  readonly base: (k: number) => string;
  /** Code just before the innermost loop; `off(k)` is operand k's offset there (innermost coord 0). */
  readonly pre?: (off: (k: number) => string) => string;
  /** Code inside the innermost loop; `off(k)` is operand k's offset, `c` the innermost coordinate. */
  readonly inner: (off: (k: number) => string, c: string) => string;
  /** Code right after the innermost loop. */
  readonly post?: (off: (k: number) => string) => string;
  /** Per level d: extra code at the top of loop level d (coordinate `c{d}`). */
  readonly level?: (d: number) => string;
}

/** Emit nested loops over `nest.dims`, with offsets kept in locals `o{k}_{d}`. */
export function emitNest(nest: Nest, body: NestBody): string {
  const r = nest.dims.length;
  const nOps = nest.strides.length;
  const names: string[][] = Array.from({ length: nOps }, () => []);
  const code: string[] = [];
  const outerOff = (k: number, upTo: number): string => (upTo < 0 ? body.base(k) : names[k]![upTo]!);
  if (r === 0) {
    const off = (k: number) => body.base(k);
    code.push(body.pre?.(off) ?? '', body.inner(off, '0'), body.post?.(off) ?? '');
    return code.join('\n');
  }
  for (let d = 0; d < r - 1; d++) {
    code.push(`for (let c${d} = 0; c${d} < ${nest.dims[d]}; c${d}++) {`);
    code.push(body.level?.(d) ?? '');
    for (let k = 0; k < nOps; k++) {
      const s = nest.strides[k]![d]!;
      if (s === 0) names[k]![d] = outerOff(k, d - 1);
      else {
        names[k]![d] = `o${k}_${d}`;
        code.push(`const o${k}_${d} = ${outerOff(k, d - 1)} + c${d} * ${s};`);
      }
    }
  }
  const d = r - 1;
  const at = (k: number) => outerOff(k, d - 1);
  code.push(body.pre?.(at) ?? '');
  code.push(`for (let c${d} = 0; c${d} < ${nest.dims[d]}; c${d}++) {`);
  code.push(body.level?.(d) ?? '');
  const innerOff = (k: number) => {
    const s = nest.strides[k]![d]!;
    const o = at(k);
    return s === 0 ? o : s === 1 ? `${o} + c${d}` : `${o} + c${d} * ${s}`;
  };
  code.push(body.inner(innerOff, `c${d}`));
  code.push('}');
  code.push(body.post?.(at) ?? '');
  for (let e = 0; e < r - 1; e++) code.push('}');
  return code.filter((l) => l !== '').join('\n');
}


/** Index arithmetic shared by kernel builders: strides, collapsing dims, WGSL index code. */
import { shapeStrides } from '@kiln/core';

/**
 * Merge adjacent dims that every operand walks contiguously (stride[d] == stride[d+1] * shape[d+1])
 * and drop size-1 dims, so index arithmetic needs as few div/mod as possible.
 */
export function collapse(shape: readonly number[], strides: readonly (readonly number[])[]): { shape: number[]; strides: number[][] } {
  const keep = shape.map((d, i) => i).filter((i) => shape[i] !== 1);
  const outShape: number[] = [];
  const outStrides: number[][] = strides.map(() => []);
  for (const i of keep) {
    const last = outShape.length - 1;
    if (last >= 0 && strides.every((s, k) => outStrides[k]![last] === s[i]! * shape[i]!)) {
      outShape[last]! *= shape[i]!;
      strides.forEach((s, k) => { outStrides[k]![last] = s[i]!; });
    } else {
      outShape.push(shape[i]!);
      strides.forEach((s, k) => outStrides[k]!.push(s[i]!));
    }
  }
  return { shape: outShape, strides: outStrides };
}

/**
 * WGSL statements splitting the linear index `idx` over `shape` into coordinates `c0..`,
 * then one `let` per operand: `names[k] = sum(c_d * strides[k][d])` (u32, or i32 when an
 * operand's offset may be negative). Dims whose every stride is 0 skip their coordinate.
 */
export function indexCode(idx: string, shape: readonly number[], strides: readonly (readonly number[])[], names: readonly string[], offsets: readonly number[] = []): string[] {
  const out: string[] = [];
  const r = shape.length;
  const contiguous = shapeStrides(shape);
  const used = shape.map((_, d) => strides.some((s) => s[d] !== 0));
  if (used.some((u) => u)) {
    out.push(`var rem = ${idx};`);
    for (let d = r - 1; d >= 0; d--) {
      if (d === 0) { out.push(`let c0 = rem;`); break; }
      if (used[d]) out.push(`let c${d} = rem % ${shape[d]}u;`);
      out.push(`rem = rem / ${shape[d]}u;`);
    }
  }
  strides.forEach((s, k) => {
    const off = offsets[k] ?? 0;
    const same = off === 0 && s.length === r && s.every((v, d) => v === contiguous[d]);
    if (same) { out.push(`let ${names[k]} = ${idx};`); return; }
    const terms = s.map((v, d) => (v === 0 ? '' : v === 1 ? `c${d}` : `c${d} * ${v}u`)).filter((t) => t);
    if (off < 0) {
      const it = s.map((v, d) => (v === 0 ? '' : `i32(c${d}) * ${v}i`)).filter((t) => t);
      out.push(`let ${names[k]} = ${[...it, `(${off}i)`].join(' + ')};`);
    } else {
      if (off > 0) terms.push(`${off}u`);
      out.push(`let ${names[k]} = ${terms.length ? terms.join(' + ') : '0u'};`);
    }
  });
  return out;
}

/** The bits of a number stored as dtype (movement kernels copy u32 words). */
export function valueBits(v: number, dtype: 'f32' | 'i32' | 'bool'): number {
  if (dtype === 'bool') return v ? 1 : 0;
  if (dtype === 'i32') return (v | 0) >>> 0;
  const b = new Float32Array([v]);
  return new Uint32Array(b.buffer)[0]!;
}

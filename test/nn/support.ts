// Shared helpers for the nn suites: param snapshots and tiny datasets.
import type { Executable } from '@kiln/core';
import { createDataset, type Dataset } from '../../packages/nn/src/data';

/** Every param's values, copied. */
export async function snapshot(exe: Executable): Promise<Map<string, number[]>> {
  const out = new Map<string, number[]>();
  for (const name of exe.paramNames) out.set(name, Array.from((await exe.getParam(name)).data));
  return out;
}

/** Largest |a - b| over all params of two snapshots with the same names. */
export function maxDiff(a: Map<string, number[]>, b: Map<string, number[]>): number {
  expect([...a.keys()].sort()).toEqual([...b.keys()].sort());
  let m = 0;
  for (const [k, va] of a) {
    const vb = b.get(k)!;
    expect(vb.length).toBe(va.length);
    va.forEach((x, i) => { m = Math.max(m, Math.abs(x - vb[i]!)); });
  }
  return m;
}

/** Seeded blobs: `classes` Gaussian clusters in `features` dims (labels i32). */
export function blobs(count: number, features: number, classes: number, seed = 1): Dataset<Int32Array> {
  let s = seed >>> 0;
  const rand = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  const centers = Array.from({ length: classes * features }, () => rand() * 4 - 2);
  const x = new Float32Array(count * features);
  const y = new Int32Array(count);
  for (let i = 0; i < count; i++) {
    const c = i % classes;
    y[i] = c;
    for (let j = 0; j < features; j++) x[i * features + j] = centers[c * features + j]! + (rand() - 0.5) * 0.8;
  }
  return createDataset({ x, y, xShape: [features] });
}

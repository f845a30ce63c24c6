// Shared helpers for the nn suites: a stand-in optimizer (until packages/nn/src/optim lands),
// param snapshots, and tiny datasets.
import type { Executable, Graph, Optimizer, Tensor } from '@kiln/core';
import { createDataset, type Dataset } from '../../packages/nn/src/data';

/** Plain SGD, with optional momentum kept in a non-trainable slot `<param>/velocity`. */
export function testSgd(options: { lr: number; momentum?: number }): Optimizer {
  return {
    name: 'test-sgd',
    apply(g: Graph, pairs: readonly { param: Tensor; grad: Tensor }[]) {
      for (const { param, grad } of pairs) {
        let step = grad;
        if (options.momentum) {
          const v = g.param(`${param.name}/velocity`, param.shape as number[], { init: 'zeros', trainable: false });
          step = v.mul(options.momentum).add(grad);
          g.assign(v, step);
        }
        g.assign(param, param.sub(step.mul(options.lr)));
      }
    },
  };
}

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

/** Batched matrix multiply with broadcast batch dims and transposed operands. */
import { z } from 'zod';
import { ShapeError } from '../errors';
import { type Dim, shapeBroadcast, shapeStrides, shapeToString } from '../shape';
import { defineOp, type Grads } from '../spec';
import { broadcastIndex, expectDType, sameDType } from './util';

const attrs = z.object({ transposeA: z.boolean().default(false), transposeB: z.boolean().default(false) }).strict();
export type MatmulAttrs = z.infer<typeof attrs>;

/** [batch dims, M, K, N] of a matmul, checked. */
export function matmulDims(a: readonly Dim[], b: readonly Dim[], at: MatmulAttrs): { batch: Dim[]; m: Dim; k: Dim; n: Dim } {
  if (a.length < 2 || b.length < 2) throw new ShapeError(`matmul: operands must have rank >= 2, got ${shapeToString(a)} and ${shapeToString(b)}`);
  const [m, ka] = at.transposeA ? [a.at(-1)!, a.at(-2)!] : [a.at(-2)!, a.at(-1)!];
  const [kb, n] = at.transposeB ? [b.at(-1)!, b.at(-2)!] : [b.at(-2)!, b.at(-1)!];
  if (ka !== kb) throw new ShapeError(`matmul: inner dimensions differ (${ka} vs ${kb}) for ${shapeToString(a)} x ${shapeToString(b)}${at.transposeA || at.transposeB ? ` (transposeA=${at.transposeA}, transposeB=${at.transposeB})` : ''}`);
  const batch = shapeBroadcast([a.slice(0, -2), b.slice(0, -2)], 'matmul batch dims');
  return { batch, m, k: ka, n };
}

export const MATMUL = defineOp({
  name: 'matmul', kind: 'matmul', arity: 2, attrs,
  infer: ([a, b], at) => {
    expectDType(a!, ['f32'], 'matmul operand');
    sameDType([a!, b!], 'matmul');
    const { batch, m, n } = matmulDims(a!.shape, b!.shape, at);
    return { shape: [...batch, m, n], dtype: 'f32' };
  },
  ref: ([a, b], at, ctx) => {
    const out = ctx.out.shape;
    const [M, N] = [out.at(-2)!, out.at(-1)!];
    const K = at.transposeA ? a!.shape.at(-2)! : a!.shape.at(-1)!;
    const batch = out.slice(0, -2);
    const nb = batch.reduce((p, q) => p * q, 1);
    const ia = broadcastIndex(a!.shape.slice(0, -2), batch);
    const ib = broadcastIndex(b!.shape.slice(0, -2), batch);
    const r = new Float64Array(nb * M * N);
    const [sam, sak] = at.transposeA ? [1, M] : [K, 1];
    const [sbk, sbn] = at.transposeB ? [1, K] : [N, 1];
    for (let q = 0; q < nb; q++) {
      const oa = ia[q]! * M * K, ob = ib[q]! * K * N;
      for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) {
        let s = 0;
        for (let k = 0; k < K; k++) s += a!.data[oa + i * sam + k * sak]! * b!.data[ob + k * sbk + j * sbn]!;
        r[(q * M + i) * N + j] = s;
      }
    }
    return r;
  },
  grad: ({ inputs: [a, b], dy, attrs: at }): Grads => {
    // dA = dY B^T (or B dY^T when A was transposed), dB likewise; batch broadcasting is undone by autodiff.
    const da = at.transposeA ? b!.matmul(dy, { transposeA: at.transposeB, transposeB: true }) : dy.matmul(b!, { transposeB: !at.transposeB });
    const db = at.transposeB ? dy.matmul(a!, { transposeA: true, transposeB: at.transposeA }) : a!.matmul(dy, { transposeA: !at.transposeA });
    return [da, db];
  },
});

export { shapeStrides };

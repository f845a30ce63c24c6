/**
 * Fused elementwise kernels, rendered from core's expression IR. Each input is read through its
 * broadcast strides (or at 0 / at the output index when it is a scalar / has the output's shape).
 *
 * When the output's last dimension is a multiple of 4, each invocation computes 4 consecutive
 * elements: inputs that run along the last dimension are read as one vec4, inputs broadcast
 * along it once, and the result is stored as one vec4; the scalar expression is rendered once
 * per component. On lavapipe each load or store is a loop over SIMD lanes, so this quarters
 * the memory instructions of these memory-bound kernels.
 */
import {
  type ElementwiseStep, exprFlops, exprUses, type PlanOperand, shapeBroadcastStrides, shapeSize, shapeToString,
} from '@kiln/core';
import { type Binding, grid1d, type Kernel } from '../kernel';
import { collapse, indexCode } from '../layout';
import { preprocess } from '../preprocess';
import { exprKey, renderExpr, storageType } from '../render';

export const ELEMENTWISE_WG = 256;

/**
 * A kernel of one invocation per lane in workgroups of ELEMENTWISE_WG: `declarations` (and
 * functions), then `body` for each lane `lane` < `lanes` (padding and folded-grid lanes return).
 */
export function lanesSource(name: string, declarations: readonly string[], lane: string, lanes: number, body: readonly string[]): string {
  return preprocess(`#include "common.wgsl"
${declarations.join('\n')}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let ${lane} = g.x * ${ELEMENTWISE_WG}u + lid;
  if (g.z >= KILN_GRID.z || ${lane} >= ${lanes}u) { return; }
  ${body.join('\n  ')}
}
`, {}, name);
}

type Access = 'scalar' | 'same' | 'vec' | 'splat' | 'gather';

export function elementwiseKernel(step: ElementwiseStep): Kernel {
  const out = step.out;
  const n = shapeSize(out.shape);
  const last = out.shape.at(-1) ?? 1;
  const usesStep = exprUses(step.expr, 'step');
  const strides = step.inputs.map((x) => shapeBroadcastStrides(x.shape, out.shape));
  // How each input is read by a 4-wide invocation (all inputs must allow it).
  const access: Access[] = step.inputs.map((x, k) => {
    const size = shapeSize(x.shape);
    if (size === 1) return 'scalar';
    if (size === n) return 'same';
    const inner = strides[k]!.at(-1) ?? 0;
    return inner === 1 ? 'vec' : inner === 0 ? 'splat' : 'gather';
  });
  const W = out.shape.length > 0 && last % 4 === 0 && n >= 4 && access.every((a) => a !== 'gather') ? 4 : 1;
  const vecType = (t: string) => (t === 'f32' ? 'vec4f' : t === 'i32' ? 'vec4i' : 'vec4u');

  const bindings: Binding[] = [{ target: { buf: out.buf }, access: 'read_write' }];
  const T = storageType(out.dtype);
  const decls = [`@group(0) @binding(0) var<storage, read_write> y: array<${W === 4 ? vecType(T) : T}>;`];
  step.inputs.forEach((x, k) => {
    bindings.push({ target: { buf: x.buf }, access: 'read' });
    const t = storageType(x.dtype);
    const vec = W === 4 && (access[k] === 'same' || access[k] === 'vec');
    decls.push(`@group(0) @binding(${k + 1}) var<storage, read> x${k}: array<${vec ? vecType(t) : t}>;`);
  });
  if (usesStep) {
    decls.push(`@group(0) @binding(${bindings.length}) var<uniform> kiln_run: vec4u;`);
    bindings.push({ target: { step: true }, access: 'uniform' });
  }

  // Shared coordinates over the collapsed output shape, for the inputs read through strides.
  const general = step.inputs.map((x, k) => ({ k, x })).filter(({ k }) => access[k] === 'vec' || access[k] === 'splat' || access[k] === 'gather');
  const c = collapse(out.shape, general.map(({ k }) => strides[k]!));
  const body: string[] = [];
  if (usesStep) body.push('let kiln_step = kiln_run.x;');
  body.push(`let base = idx * ${W}u;`);
  body.push(...indexCode('base', c.shape, c.strides, general.map(({ k }) => `i${k}`)));
  const load = (x: PlanOperand, v: string) => (x.dtype === 'bool' ? `(${v} != 0u)` : v);
  step.inputs.forEach((x, k) => {
    if (W === 1) {
      const at = access[k] === 'scalar' ? '0u' : access[k] === 'same' ? 'idx' : `i${k}`;
      body.push(`let a${k}_0 = ${load(x, `x${k}[${at}]`)};`);
    } else if (access[k] === 'same' || access[k] === 'vec') {
      body.push(`let xv${k} = x${k}[${access[k] === 'same' ? 'idx' : `i${k} / 4u`}];`);
      for (let j = 0; j < 4; j++) body.push(`let a${k}_${j} = ${load(x, `xv${k}[${j}]`)};`);
    } else {
      body.push(`let a${k}_0 = ${load(x, `x${k}[${access[k] === 'scalar' ? '0u' : `i${k}`}]`)};`);
    }
  });
  const results: string[] = [];
  for (let j = 0; j < W; j++) {
    const shared = (k: number) => W === 4 && (access[k] === 'same' || access[k] === 'vec');
    const r = renderExpr(step.expr, (i) => `a${i}_${shared(i) ? j : 0}`, { index: `(base + ${j}u)`, prefix: `v${j}_` });
    body.push(...r.lines);
    results.push(out.dtype === 'bool' ? `select(0u, 1u, ${r.value})` : r.value);
  }
  body.push(W === 4 ? `y[idx] = ${vecType(T)}(${results.join(', ')});` : `y[idx] = ${results[0]};`);

  const threads = n / W;
  const source = lanesSource('elementwise', decls, 'idx', threads, body);
  const name = `ew_${step.ops.slice(0, 4).join('_')}${step.ops.length > 4 ? '_etc' : ''}`;
  return {
    name,
    key: `${name}[${shapeToString(out.shape)}${W === 4 ? ' x4' : ''}] e${exprKey(step.expr)} ${step.inputs.map((x) => `${x.dtype}${shapeToString(x.shape)}`).join(' ')}`,
    source,
    workgroupSize: ELEMENTWISE_WG,
    grid: grid1d(threads, ELEMENTWISE_WG),
    bindings,
    ops: step.ops,
    shapes: [...step.inputs.map((x) => shapeToString(x.shape)), '->', shapeToString(out.shape)].join(' '),
    bytes: 4 * (n + step.inputs.reduce((a, x) => a + shapeSize(x.shape), 0)),
    flops: n * exprFlops(step.expr),
  };
}

/**
 * Fused elementwise kernels, rendered from core's expression IR: one invocation per output
 * element, each input read through its broadcast strides (or at 0 / at the output index when
 * it is a scalar / has the output's shape).
 */
import { type ElementwiseStep, exprUses, shapeToString } from '@kiln/core';
import { type Binding, grid1d, type Kernel, storageDecl } from '../kernel';
import { broadcastStrides, collapse, indexCode, numel } from '../layout';
import { preprocess } from '../preprocess';
import { renderExpr, storageType } from '../render';

export const ELEMENTWISE_WG = 256;

export function elementwiseKernel(step: ElementwiseStep): Kernel {
  const out = step.out;
  const n = numel(out.shape);
  const usesStep = exprUses(step.expr, 'step');
  const bindings: Binding[] = [{ target: { buf: out.buf }, access: 'read_write' }];
  const decls = [storageDecl(0, 'y', storageType(out.dtype), 'read_write')];
  step.inputs.forEach((x, k) => {
    bindings.push({ target: { buf: x.buf }, access: 'read' });
    decls.push(storageDecl(k + 1, `x${k}`, storageType(x.dtype), 'read'));
  });
  if (usesStep) {
    decls.push(`@group(0) @binding(${bindings.length}) var<uniform> kiln_run: vec4u;`);
    bindings.push({ target: { step: true }, access: 'uniform' });
  }

  // Index of every input: shared coordinates over the collapsed output shape.
  const general = step.inputs.map((x, k) => ({ k, x })).filter(({ x }) => numel(x.shape) !== 1 && numel(x.shape) !== n);
  const c = collapse(out.shape, general.map(({ x }) => broadcastStrides(x.shape, out.shape)));
  const body: string[] = indexCode('idx', c.shape, c.strides, general.map(({ k }) => `i${k}`));
  step.inputs.forEach((x, k) => {
    const size = numel(x.shape);
    const at = size === 1 ? '0u' : size === n ? 'idx' : `i${k}`;
    body.push(x.dtype === 'bool' ? `let a${k} = x${k}[${at}] != 0u;` : `let a${k} = x${k}[${at}];`);
  });
  if (usesStep) body.push('let kiln_step = kiln_run.x;');
  const r = renderExpr(step.expr, (i) => `a${i}`);
  body.push(...r.lines);
  body.push(out.dtype === 'bool' ? `y[idx] = select(0u, 1u, ${r.value});` : `y[idx] = ${r.value};`);

  const source = preprocess(`#include "common.wgsl"
${decls.join('\n')}
@compute @workgroup_size(${ELEMENTWISE_WG})
fn main(@builtin(workgroup_id) wid: vec3u, @builtin(num_workgroups) nwg: vec3u, @builtin(local_invocation_index) lid: u32) {
  let g = kiln_wg(wid, nwg, KILN_GRID);
  let idx = g.x * ${ELEMENTWISE_WG}u + lid;
  if (g.z >= KILN_GRID.z || idx >= ${n}u) { return; }
  ${body.join('\n  ')}
}
`, {}, 'elementwise');
  const name = `ew_${step.ops.slice(0, 4).join('_')}${step.ops.length > 4 ? '_etc' : ''}`;
  return {
    name,
    key: `${name}[${shapeToString(out.shape)}]`,
    source,
    workgroupSize: ELEMENTWISE_WG,
    grid: grid1d(n, ELEMENTWISE_WG),
    bindings,
    ops: step.ops,
    shapes: [...step.inputs.map((x) => shapeToString(x.shape)), '->', shapeToString(out.shape)].join(' '),
    bytes: 4 * (n + step.inputs.reduce((a, x) => a + numel(x.shape), 0)),
    flops: n * step.ops.length,
  };
}

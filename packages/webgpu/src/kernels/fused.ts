/**
 * Kernels of core's plan fusions: epilogues applied in a GEMM's store (fuseEpilogues), and
 * packed steps (fuseMultiTensor) — several elementwise kernels as one dispatch, each segment
 * writing its part of one packed buffer. Both render core's expressions with render.ts.
 */
import {
  type Epilogue, exprFlops, KernelCompileError, type Prologue, type PackedElementwiseStep, type PlanOperand, shapeBroadcastStrides, shapeSize, shapeToString,
} from '@kiln/core';
import { type Binding, grid1d, type Kernel } from '../kernel';
import { collapse, indexCode } from '../layout';
import { exprKey, renderExpr, storageType } from '../render';
import { ELEMENTWISE_WG, lanesSource } from './elementwise';
import type { GemmIO } from './gemm';

/** A storage value as its expression type (bool is stored as u32 0/1). */
const load = (o: PlanOperand, v: string) => (o.dtype === 'bool' ? `(${v} != 0u)` : v);

/**
 * WGSL statements binding `a${k}` to each input's element at linear index `i` of `shape` (read
 * through its broadcast strides from `names[k]`), `a${k + first}` for input k.
 */
function loadArgs(inputs: readonly PlanOperand[], shape: readonly number[], names: readonly string[], first: number): string[] {
  const strides = inputs.map((x) => shapeBroadcastStrides(x.shape, shape));
  const c = collapse(shape, strides);
  const body = indexCode('i', c.shape, c.strides, inputs.map((_, k) => `e${k}`));
  inputs.forEach((x, k) => body.push(`let a${k + first} = ${load(x, `${names[k]}[e${k}]`)};`));
  return body;
}

/**
 * WGSL `fn apply_epilogue(v: f32, i: u32) -> f32`: the epilogue of the value v stored at
 * output element i (a linear index into `shape`), its inputs `names[k]` read through their
 * broadcast strides; and `apply_epilogue4` for four consecutive elements.
 */
export function epilogueFns(epilogue: Epilogue, shape: readonly number[], names: readonly string[]): string {
  const r = renderExpr(epilogue.expr, (k) => (k === 0 ? 'v' : `a${k}`), { index: 'i', prefix: 'ep' });
  return [
    `fn apply_epilogue(v: f32, i: u32) -> f32 {\n  ${[...loadArgs(epilogue.inputs, shape, names, 1), ...r.lines, `return ${r.value};`].join('\n  ')}\n}`,
    'fn apply_epilogue4(v: vec4f, i: u32) -> vec4f {\n  return vec4f(apply_epilogue(v.x, i), apply_epilogue(v.y, i + 1u), apply_epilogue(v.z, i + 2u), apply_epilogue(v.w, i + 3u));\n}',
  ].join('\n\n');
}

/**
 * What a shader with a `finish(v, i)` hook (reduce.wgsl, pool.wgsl) needs to apply `epilogue`:
 * the EPILOGUE define (its inputs' bindings from `firstBinding`, and apply_epilogue over
 * `shape`), the FINISH body, and the bindings to append. Without an epilogue, finish returns v.
 */
export function epilogueHook(epilogue: Epilogue | undefined, shape: readonly number[], firstBinding: number): { defines: Record<string, string>; bindings: Binding[] } {
  if (!epilogue) return { defines: { EPILOGUE: '', FINISH: 'return v;' }, bindings: [] };
  const names = epilogue.inputs.map((_, k) => `EP${k}`);
  return {
    defines: {
      EPILOGUE: [...epilogue.inputs.map((x, k) => `@group(0) @binding(${k + firstBinding}) var<storage, read> ${names[k]}: array<${storageType(x.dtype)}>;`), epilogueFns(epilogue, shape, names)].join('\n'),
      FINISH: 'return apply_epilogue(v, i);',
    },
    bindings: epilogue.inputs.map((x): Binding => ({ target: { buf: x.buf }, access: 'read' })),
  };
}

/**
 * The bindings of a prologue's inputs (`P0..` from binding `first`) and WGSL
 * `fn apply_prologue(i: u32) -> f32`: the kernel's input element i (a linear index into `shape`).
 */
export function prologueFns(prologue: Prologue, shape: readonly number[], first: number): string {
  const names = prologue.inputs.map((_, k) => `P${k}`);
  const r = renderExpr(prologue.expr, (k) => `a${k}`, { index: 'i', prefix: 'pr' });
  return [
    ...prologue.inputs.map((x, k) => `@group(0) @binding(${first + k}) var<storage, read> ${names[k]}: array<${storageType(x.dtype)}>;`),
    `fn apply_prologue(i: u32) -> f32 {\n  ${[...loadArgs(prologue.inputs, shape, names, 0), ...r.lines, `return ${r.value};`].join('\n  ')}\n}`,
  ].join('\n');
}

/**
 * Rewrite a store statement `... NAME[index] = value; ...` so that it stores apply(value, element):
 * the index is the bracketed expression right before ` = value;` (matched bracket by bracket,
 * since it may itself index arrays).
 */
function wrapStore(statement: string, value: string, apply: (v: string, at: string) => string): string {
  const mark = '] = KILN_VALUE;';
  const end = statement.indexOf(mark);
  let open = end, depth = 0;
  for (; end >= 0 && open >= 0; open--) {
    const ch = statement[open];
    if (ch === ']') depth++;
    else if (ch === '[' && --depth === 0) break;
  }
  const name = /(\w+)$/.exec(statement.slice(0, Math.max(0, open)));
  if (end < 0 || open < 0 || !name) throw new KernelCompileError(`webgpu: cannot apply an epilogue to the store '${statement}'`, 'epilogue');
  const before = statement.slice(0, open - name[1]!.length);
  const index = statement.slice(open + 1, end);
  return `${before}{ let kiln_at = ${index}; ${name[1]}[kiln_at] = ${apply(value, 'kiln_at')}; }${statement.slice(end + mark.length)}`;
}

/**
 * The GEMM with `epilogue` applied to every stored result: the epilogue's inputs become extra
 * read bindings, and each store computes its value's epilogue at the element it writes (the
 * output buffer is contiguous in the output's shape, so the element is the store's index).
 */
export function gemmWithEpilogue(io: GemmIO, epilogue: Epilogue, outShape: readonly number[]): GemmIO {
  const names = epilogue.inputs.map((_, k) => `EP${k}`);
  const fns = epilogueFns(epilogue, outShape, names);
  const wrap = (inner: GemmIO): GemmIO => ({
    ...inner,
    buffers: [...inner.buffers, ...epilogue.inputs.map((x, k) => ({ name: names[k]!, access: 'read' as const, target: { buf: x.buf }, elem: storageType(x.dtype) }))],
    helpers: `${inner.helpers}\n\n${fns}`,
    variant: `${inner.variant} epilogue e${exprKey(epilogue.expr)} ${epilogue.inputs.map((x) => `${x.dtype}${shapeToString(x.shape)}`).join(' ')}`,
    store: (b, m, n, v) => wrapStore(inner.store(b, m, n, 'KILN_VALUE'), v, (x, at) => `apply_epilogue(${x}, ${at})`),
    ...(inner.store4 ? { store4: (b: string, m: string, n4: string, v: string) => wrapStore(inner.store4!(b, m, n4, 'KILN_VALUE'), v, (x, at) => `apply_epilogue4(${x}, ${at} * 4u)`) } : {}),
    ...(inner.scalar ? { scalar: () => wrap(inner.scalar!()) } : {}),
  });
  return wrap(io);
}

const vec4Of = (t: string) => (t === 'f32' ? 'vec4f' : t === 'i32' ? 'vec4i' : 'vec4u');

/**
 * One dispatch over the packed output, four elements per invocation: invocation q computes
 * elements 4q .. 4q + 3 of the segment whose range holds them (segments start at multiples of
 * 4, core's SEGMENT_ALIGN; the gap after a segment's last partial vec4 is scratch no one reads,
 * and buffers are rounded up to 16 bytes, so whole vec4 loads stay in bounds). Each segment's
 * expression is one WGSL function called per component: loads and stores are vec4, the source
 * stays small (lavapipe's compile time grows with it).
 */
export function packedKernel(step: PackedElementwiseStep): Kernel {
  const out = step.out;
  const total = shapeSize(out.shape);
  const bufs = [...new Set(step.inputs.map((i) => i.buf))];
  const bindings: Binding[] = [{ target: { buf: out.buf }, access: 'read_write' }, ...bufs.map((buf): Binding => ({ target: { buf }, access: 'read' }))];
  const typeOf = new Map(step.inputs.map((i) => [i.buf, storageType(i.dtype)]));
  const T = storageType(out.dtype);
  const decls = [`@group(0) @binding(0) var<storage, read_write> y: array<${vec4Of(T)}>;`, ...bufs.map((b, k) => `@group(0) @binding(${k + 1}) var<storage, read> x${k}: array<${vec4Of(typeOf.get(b)!)}>;`)];
  const fns: string[] = [];
  const branches = step.segments.map((g, j) => {
    const n = shapeSize(g.shape);
    const params = g.inputs.map((x, k) => `a${k}: ${x.dtype === 'bool' ? 'bool' : storageType(x.dtype)}`);
    const r = renderExpr(g.expr, (k) => `a${k}`, { prefix: 'v' });
    const value = out.dtype === 'bool' ? `select(0u, 1u, ${r.value})` : r.value;
    fns.push(`fn segment${j}(${params.join(', ')}) -> ${T} {\n  ${[...r.lines, `return ${value};`].join('\n  ')}\n}`);
    const loads = g.inputs.map((x, k) => `let l${k} = x${bufs.indexOf(x.buf)}[${shapeSize(x.shape) === 1 ? '0u' : 'q - ' + g.offset / 4 + 'u'}];`);
    const arg = (x: PlanOperand, k: number, c: number) => load(x, shapeSize(x.shape) === 1 ? `l${k}.x` : `l${k}[${c}]`);
    const calls = [0, 1, 2, 3].map((c) => `segment${j}(${g.inputs.map((x, k) => arg(x, k, c)).join(', ')})`);
    return `if (q < ${(g.offset + Math.ceil(n / 4) * 4) / 4}u) {\n    ${[...loads, `y[q] = ${vec4Of(T)}(${calls.join(', ')});`].join('\n    ')}\n    return;\n  }`;
  });
  const threads = total / 4;
  const source = lanesSource('packed', [...decls, fns.join('\n\n')], 'q', threads, branches);
  const sizes = step.segments.map((g) => shapeSize(g.shape));
  const read = step.inputs.reduce((a, x) => a + shapeSize(x.shape), 0);
  return {
    name: `packed_${step.segments.length}`,
    key: `packed[${step.segments.map((g) => `${g.offset}:${shapeToString(g.shape)}<${g.inputs.map((x) => `${x.dtype}${bufs.indexOf(x.buf)}${shapeSize(x.shape) === 1 ? 's' : ''}`).join(',')}>`).join(' ')}] e${exprKey(...step.segments.map((g) => g.expr))}`,
    source,
    workgroupSize: ELEMENTWISE_WG,
    grid: grid1d(threads, ELEMENTWISE_WG),
    bindings,
    ops: step.ops,
    shapes: `${step.segments.length} segments [${sizes.join(', ')}] -> ${shapeToString(out.shape)}`,
    bytes: 4 * (total + read),
    flops: step.segments.reduce((a, g) => a + shapeSize(g.shape) * exprFlops(g.expr), 0),
  };
}

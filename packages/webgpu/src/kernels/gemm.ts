/**
 * GEMM: C[b] = A[b] (M x K) times B[b] (K x N), for every batch b. matmul and the three
 * convolutions (implicit GEMM: im2col indices computed in the loaders, never materialised)
 * describe their operands as a GemmIO; one of two kernel families then computes it:
 *
 *  - 'subgroup' (shaders/gemm_subgroup.wgsl) for adapters that emulate a GPU on CPU SIMD lanes
 *    with a fixed subgroup size: register blocks, A handed round by subgroup shuffles, no
 *    workgroup memory and no barriers;
 *  - 'tiled' (shaders/gemm_tiled.wgsl) for GPUs: workgroup-memory tiles, register blocks.
 *
 * M, N, K and the loaders' parameters are uniforms: one pipeline serves every shape (on
 * lavapipe compiling a GEMM pipeline takes about a second).
 */
import { exprFlops, type OpStep, shapeSize } from '@kiln/core';
import { type Binding, type BindingTarget, type BuildContext, ceilDiv, type Kernel } from '../kernel';
import { collapse, indexCode } from '../layout';
import { gemmWithEpilogue } from './fused';
import { shader } from '../preprocess';

/** WGSL of loader parameter i (dims.p, 16 u32 in all). */
export const param = (i: number): string => `dims.p[${i >> 2}].${'xyzw'[i & 3]}`;

/** How one GEMM reads its operands and writes its result (WGSL expressions over u32 indices). */
export interface GemmIO {
  readonly M: number;
  readonly N: number;
  readonly K: number;
  readonly batch: number;
  /** Values of param(0..) the expressions read (at most 16). */
  readonly params: readonly number[];
  /** Storage bindings: name, access and what to bind. */
  readonly buffers: readonly { name: string; access: 'read' | 'read_write'; target: BindingTarget; vec4?: boolean; elem?: string }[];
  /** Extra WGSL (index helpers) the expressions may call. */
  readonly helpers: string;
  /** Identifies everything baked into the WGSL (layouts, which loaders): part of the pipeline key. */
  readonly variant: string;
  /** A[b][m][k] for m < M, k < K. */
  a(b: string, m: string, k: string): string;
  /** A[b][m][4 k4 .. 4 k4 + 3] as one vec4 load, when A is row-major with K % 4 == 0. */
  a4?(b: string, m: string, k4: string): string;
  /** B[b][k][n] for k < K, n < N. */
  b(b: string, k: string, n: string): string;
  /** Columns 4 n4 .. 4 n4 + 3 of row k of B[b] as one vec4 load, when the layout allows. */
  b4?(b: string, k: string, n4: string): string;
  /** Statement storing v into C[b][m][n]. */
  store(b: string, m: string, n: string, v: string): string;
  /** Statement storing a vec4 into columns 4 n4 .. of C[b][m], when N % 4 == 0. */
  store4?(b: string, m: string, n4: string, v: string): string;
  /** The same operands without vec4 bindings (for kernels that load scalars only). */
  scalar?(): GemmIO;
}

export interface GemmMeta {
  readonly name: string;
  readonly ops: readonly string[];
  readonly shapes: string;
  /** The step computed: its epilogue (core's fuseEpilogues), if any, is applied by every store. */
  readonly step?: Pick<OpStep, 'epilogue' | 'out'>;
}

/** Register block and workgroup of the subgroup GEMM (tuned: packages/webgpu/scripts/matmul-timing.ts). */
export interface SubgroupTiles { rows: number; vec4s: number; wg: number }

/**
 * The block for a problem: the largest (rows x 4 vec4s columns per invocation) that the problem
 * fills. Registers are not scarce on a CPU (spills stay in L1), loads are: a bigger block reads
 * each B vector for more rows and each A value for more columns.
 */
export function subgroupTiles(io: Pick<GemmIO, 'M' | 'N'>, S: number, override: Partial<SubgroupTiles> = {}): SubgroupTiles {
  // Few distinct blocks, so that few pipelines are compiled (about a second each on lavapipe).
  const N4 = ceilDiv(io.N, 4);
  const rows = override.rows ?? (io.M >= 24 ? 24 : 8);
  const vec4s = override.vec4s ?? (N4 >= 2 * S ? 2 : 1);
  const wg = override.wg ?? (ceilDiv(N4, vec4s) >= 8 * S ? 8 * S : S);
  return { rows, vec4s, wg };
}

function declarations(io: GemmIO): { decls: string; bindings: Binding[] } {
  const bindings: Binding[] = [];
  const decls = io.buffers.map((b, i) => {
    bindings.push({ target: b.target, access: b.access });
    return `@group(0) @binding(${i}) var<storage, ${b.access}> ${b.name}: array<${b.vec4 ? 'vec4f' : b.elem ?? 'f32'}>;`;
  });
  bindings.push({ target: { uniforms: true }, access: 'uniform' });
  return { decls: decls.join('\n'), bindings };
}

export function gemmKernel(io: GemmIO, meta: GemmMeta, ctx: BuildContext): Kernel {
  if (meta.step?.epilogue) {
    const { step, ...rest } = meta;
    const k = gemmKernel(gemmWithEpilogue(io, meta.step.epilogue, meta.step.out.shape), rest, ctx);
    return { ...k, flops: k.flops + shapeSize(meta.step.out.shape) * exprFlops(meta.step.epilogue.expr) };
  }
  if (io.params.length > 16) throw new Error(`webgpu: ${meta.name} needs ${io.params.length} GEMM parameters (16 at most)`);
  const { decls, bindings } = declarations(io);
  const N4 = ceilDiv(io.N, 4);
  const uniforms = new Uint32Array(24);
  uniforms.set([io.M, io.N, io.K, N4], 4);
  uniforms.set(io.params, 8);
  const withGrid = (grid: [number, number, number]) => {
    uniforms.set(grid, 0);
    return { grid, uniforms, uniformGrid: true };
  };
  const flops = 2 * io.M * io.N * io.K * io.batch;
  const bytes = 4 * io.batch * (io.M * io.K + io.K * io.N + io.M * io.N);
  const common = { BINDINGS: decls, UNIFORM_BINDING: io.buffers.length };
  const S = ctx.traits.subgroupSize;
  if (ctx.traits.gemm === 'subgroup' && S > 0) {
    const t = subgroupTiles(io, S, ctx.traits.gemmTiles);
    const a4 = !!io.a4 && S % 2 === 0 && t.rows % (S / 2) === 0 && ctx.traits.gemmTiles?.a4 !== false;
    const loaders = [
      io.helpers,
      `fn load_a(b: u32, m: u32, k: u32) -> f32 {\n  return ${io.a('b', 'm', 'k')};\n}`,
      ...(a4 ? [`fn load_a4(b: u32, m: u32, k4: u32) -> vec4f {\n  return ${io.a4!('b', 'm', 'k4')};\n}`] : []),
      io.b4
        ? `fn load_b4(b: u32, k: u32, n4: u32) -> vec4f {\n  return ${io.b4('b', 'k', 'n4')};\n}`
        // A loop, not four copies: each copy of a load is a per-lane loop for lavapipe's compiler.
        : `fn load_b4(b: u32, k: u32, n4: u32) -> vec4f {\n  var r = vec4f(0.0);\n  for (var j = 0u; j < 4u; j++) {\n    r[j] = ${io.b('b', 'k', 'min(n4 * 4u + j, dims.n - 1u)')};\n  }\n  return r;\n}`,
      io.store4
        ? `fn store_c4(b: u32, m: u32, n4: u32, v: vec4f) {\n  ${io.store4('b', 'm', 'n4', 'v')}\n}`
        : `fn store_c4(b: u32, m: u32, n4: u32, v: vec4f) {\n  for (var j = 0u; j < 4u; j++) {\n    let n = n4 * 4u + j;\n    if (n < dims.n) {\n      ${io.store('b', 'm', 'n', 'v[j]')}\n    }\n  }\n}`,
    ].join('\n\n');
    const source = shader('gemm_subgroup.wgsl', { ...common, LOADERS: loaders, S, U: t.rows, VN: t.vec4s, WG: t.wg, A4: a4 ? 1 : 0 });
    return {
      name: `${meta.name}_sg`, key: `${meta.name}_sg[${io.variant}${a4 ? ' A4' : ''}|U${t.rows} V${t.vec4s} WG${t.wg}]`, source,
      workgroupSize: t.wg, ...withGrid([ceilDiv(N4, t.wg * t.vec4s), ceilDiv(io.M, t.rows), io.batch]),
      bindings, ops: meta.ops, shapes: meta.shapes, bytes, flops,
    };
  }
  // The tiled kernel stages scalars through workgroup memory: vec4 bindings buy it nothing, and
  // declaring every operand scalar keeps it to one pipeline per loader family.
  if (io.buffers.some((b) => b.vec4)) return gemmKernel(scalarOnly(io), meta, ctx);
  const T = { TM: 64, TN: 64, TK: 16, RM: 4, RN: 4 };
  const loaders = [
    io.helpers,
    `fn load_a(b: u32, m: u32, k: u32) -> f32 {\n  return ${io.a('b', 'm', 'k')};\n}`,
    `fn load_b(b: u32, k: u32, n: u32) -> f32 {\n  return ${io.b('b', 'k', 'n')};\n}`,
    `fn store_c(b: u32, m: u32, n: u32, v: f32) {\n  ${io.store('b', 'm', 'n', 'v')}\n}`,
  ].join('\n\n');
  const source = shader('gemm_tiled.wgsl', { ...common, LOADERS: loaders, ...T });
  return {
    name: `${meta.name}_tiled`, key: `${meta.name}_tiled[${io.variant}|${T.TM}x${T.TN}x${T.TK}]`, source,
    workgroupSize: (T.TM / T.RM) * (T.TN / T.RN), ...withGrid([ceilDiv(io.N, T.TN), ceilDiv(io.M, T.TM), io.batch]),
    bindings, ops: meta.ops, shapes: meta.shapes, bytes, flops,
  };
}

/** The same GEMM with every operand bound as f32 (no vec4 loaders). */
function scalarOnly(io: GemmIO): GemmIO {
  if (!io.scalar) throw new Error('webgpu: GEMM with vec4 operands has no scalar form');
  return io.scalar();
}

/** `fn name(b: u32) -> u32`: element offset of batch b of an operand broadcast over `batch` (baked: batch shapes vary little). */
export function batchBaseFn(name: string, batch: readonly number[], strides: readonly number[]): string {
  const c = collapse(batch, [strides]);
  if (c.shape.length === 0 || c.strides[0]!.every((s) => s === 0)) return `fn ${name}(b: u32) -> u32 {\n  return 0u;\n}`;
  const lines = indexCode('b', c.shape, c.strides, ['base']);
  return `fn ${name}(b: u32) -> u32 {\n  ${lines.join('\n  ')}\n  return base;\n}`;
}

export type { BuildContext };

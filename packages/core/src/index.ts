/**
 * @kiln/core — graph IR, op registry, autodiff, compiler passes, Backend contract.
 *
 * A short tour:
 *   const g = new Graph({ seed: 1 });
 *   const x = g.input('x', ['batch', 3]);              // f32 unless a dtype is given
 *   const w = g.param('w', [3, 2], { init: 'glorotUniform' });
 *   const y = x.matmul(w).relu().sum();                // fluent ops, shapes inferred now
 *   const [dw] = g.grad(y, [w]);                       // gradient nodes in the same graph
 *   evaluate(g, { x: new Float32Array(6) }, { y, dw }); // float64 reference evaluator
 *
 * Backends (@kiln/webgpu, @kiln/cpu) implement `Backend`; `compileWith` builds an Executable.
 *
 * @module @kiln/core
 */
export * from './errors';
export { isNode, nodeBuiltin, hardwareConcurrency, ownedBytes } from './platform';
/** Argument checking at a public function's boundary, as the ops do it (used by @kiln/nn and @kiln/onnx). */
export * as args from './ops/args';
export * from './shape';
export * from './expr';
export * from './spec';
export * from './host';
export * from './backend';
export * from './init';
export { Graph, type Node, type ParamEntry, type GraphOptions, type Optimizer, TRAINING_INPUT } from './graph';
export { parseOptions } from './options';
export { Tensor, type TensorLike } from './tensor';
export { ops, concat, apply, type FluentOps, type ConvOptions, type PoolOptions, type Padding, type ReduceOptions } from './ops';
export { PRIMITIVES, PRIMITIVE_NAMES, ELEMENTWISE_NAMES, KERNEL_PRIMITIVES, isKernelPrimitive, kernelParams, spec, type KernelPrimitive, type ParamsOf, type PrimitiveName, type SpecOf } from './ops/primitives';
export { applyView, type StridedView } from './ops/movement';
export { convOutSize, type ConvGeometry, type PoolGeometry } from './ops/conv';
export { type ScanParams } from './ops/reduce';
export { type AxisParams, type ReduceParams } from './ops/util';
export { matmulDims } from './ops/linalg';
export { toDType } from './ops/elementwise';
export { erf, erfc, ndtr } from './special';
export { pcgHash, randomValue, randomBits } from './rng';
export { gradients, sumToShape } from './autodiff';
export { ReferenceSession, evaluate, initialParam, type RefResult } from './reference';
export { checkFeeds, bindAttrs } from './feeds';
export { Executable, compileWith, formatBytes, programMemory, PROGRAM_CACHE_SIZE, type CompileOptions, type MemoryReport, type RunOptions, type ProfileRecord, type TrainHook } from './executable';
export { buildPlan, EPILOGUE_OPS, PASSES, PLAN_FUSIONS, PROLOGUE_OPS, validate, type PGraph, type PlanOptions } from './passes';
export { liveRanges, type LiveRange, planMemory, validatePlan } from './passes/validate-plan';
export { DEFAULT_MAX_STORAGE_BUFFERS, MAX_FUSED_INPUTS, MAX_FUSED_OPS, MIN_STORAGE_BUFFERS } from './passes/lower';
export { createReferenceBackend } from './reference-backend';
export { exprEvaluator } from './expr-eval';
export { type GraphJSON } from './serialize';

/**
 * The compiler pipeline: an ordered list of small named passes from a specialised graph
 * to a Plan — graph passes (PASSES), then the lowering passes fuseElementwise, assignBuffers
 * (lower.ts), the plan fusions fuseEpilogues (epilogue.ts), fusePrologues (prologue.ts) and
 * fuseMultiTensor (multi-tensor.ts), and assignMemorySlots. With `debug`, the IR is validated after every pass.
 */
import type { Plan } from '../backend';
import { GraphError } from '../errors';
import type { Graph } from '../graph';
import { fuseEpilogues } from './epilogue';
import { fusePrologues } from './prologue';
import { assignBuffers, assignMemorySlots, fuseElementwise, type FusionOptions, validateAssigns, validateFusion } from './lower';
import { fuseMultiTensor, validatePacked } from './multi-tensor';
import type { PGraph } from './pgraph';
import { prune } from './pgraph';
import { eliminateCommonSubexpressions, elideBroadcasts, foldConstants } from './simplify';
import { specialize } from './specialize';
import { validatePlan } from './validate-plan';

export const PASSES: readonly { name: string; run: (pg: PGraph) => PGraph }[] = [
  { name: 'foldConstants', run: foldConstants },
  { name: 'eliminateCommonSubexpressions', run: eliminateCommonSubexpressions },
  { name: 'elideBroadcasts', run: elideBroadcasts },
  { name: 'prune', run: prune },
];

/** Every input of a node is defined earlier; fetches and assigns exist. */
export function validate(pg: PGraph, after: string): void {
  const seen = new Set<number>();
  for (const n of pg.nodes) {
    for (const i of n.inputs) if (!seen.has(i)) throw new GraphError(`IR invalid after ${after}: node ${n.name} reads undefined #${i}`);
    seen.add(n.id);
  }
  for (const id of [...pg.fetches.map((f) => f.id), ...pg.assigns]) {
    if (!seen.has(id)) throw new GraphError(`IR invalid after ${after}: root #${id} missing`);
  }
}

/** Fusions over the lowered plan, in order: kernels' epilogues, reductions' prologues, then multi-tensor updates. */
export const PLAN_FUSIONS: readonly { name: string; run: (plan: Plan, options: FusionOptions) => Plan }[] = [
  { name: 'fuseEpilogues', run: fuseEpilogues },
  { name: 'fusePrologues', run: fusePrologues },
  { name: 'fuseMultiTensor', run: fuseMultiTensor },
];

/** Every lowering pass in order, without validation (see buildPlan). */
export function lowerToPlan(pg: PGraph, options: FusionOptions = {}): Plan {
  let plan = assignBuffers(pg, fuseElementwise(pg, options));
  for (const pass of PLAN_FUSIONS) plan = pass.run(plan, options);
  return assignMemorySlots(plan);
}

export interface PlanOptions {
  fuse?: boolean;
  debug?: boolean;
  /**
   * Most storage buffers one kernel may bind (inputs plus output); fusion splits a chain that
   * would need more. Default 8, what every WebGPU device guarantees; an Executable uses the
   * smaller of this and its backend's `limits.maxStorageBuffersPerShaderStage`.
   */
  maxStorageBuffers?: number;
}

export function buildPlan(g: Graph, fetches: readonly { key: string; id: number }[], train: boolean, bindings: ReadonlyMap<string, number>, options: PlanOptions = {}): Plan {
  let pg = specialize(g, fetches, train, bindings);
  if (options.debug) validate(pg, 'specialize');
  for (const p of PASSES) {
    pg = p.run(pg);
    if (options.debug) validate(pg, p.name);
  }
  const fusionOptions = { fuse: options.fuse ?? true, ...(options.maxStorageBuffers !== undefined ? { maxStorageBuffers: options.maxStorageBuffers } : {}) };
  const fusion = fuseElementwise(pg, fusionOptions);
  if (options.debug) validateFusion(pg, fusion, fusionOptions);
  let unplanned = assignBuffers(pg, fusion);
  const check = (p: Plan) => {
    validatePlan(p);
    validateAssigns(p);
    validatePacked(p, fusionOptions);
  };
  if (options.debug) check(unplanned);
  for (const pass of PLAN_FUSIONS) {
    unplanned = pass.run(unplanned, fusionOptions);
    if (options.debug) check(unplanned);
  }
  const plan = assignMemorySlots(unplanned);
  if (options.debug) validatePlan(plan);
  return plan;
}

export { liveRanges, planMemory, validatePlan } from './validate-plan';
export { maxFusedInputs } from './lower';
export { EPILOGUE_OPS } from './epilogue';
export { PROLOGUE_OPS } from './prologue';
export { MAX_ABSORBED_NODES, SEGMENT_ALIGN } from './multi-tensor';
export { fuseEpilogues, fusePrologues, fuseMultiTensor, validatePacked, fuseElementwise, assignBuffers, assignMemorySlots, validateAssigns, validateFusion, specialize, foldConstants, eliminateCommonSubexpressions, elideBroadcasts, prune };
export type { Fusion, FusedKernel, FusionOptions } from './lower';
export type { PGraph };

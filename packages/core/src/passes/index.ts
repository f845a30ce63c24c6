/**
 * The compiler pipeline: an ordered list of small named passes from a specialised graph
 * to a Plan — graph passes (PASSES), then the lowering passes fuseElementwise, assignBuffers
 * and assignMemorySlots (lower.ts). With `debug`, the IR is validated after every pass.
 */
import type { Plan } from '../backend';
import { GraphError } from '../errors';
import type { Graph } from '../graph';
import { assignBuffers, assignMemorySlots, fuseElementwise, lowerToPlan, validateAssigns, validateFusion } from './lower';
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
  const unplanned = assignBuffers(pg, fusion);
  if (options.debug) {
    validatePlan(unplanned);
    validateAssigns(unplanned);
  }
  const plan = assignMemorySlots(unplanned);
  if (options.debug) validatePlan(plan);
  return plan;
}

export { liveRanges, planMemory, validatePlan } from './validate-plan';
export { maxFusedInputs } from './lower';
export { lowerToPlan, fuseElementwise, assignBuffers, assignMemorySlots, validateAssigns, validateFusion, specialize, foldConstants, eliminateCommonSubexpressions, elideBroadcasts, prune };
export type { Fusion, FusedKernel, FusionOptions } from './lower';
export type { PGraph };

/**
 * Helpers for IR-level pass tests: a graph specialised to a PGraph (what the passes see),
 * node counts by op, and plans with their steps' ops.
 */
import { buildPlan, type Graph, type Plan, type Tensor } from '@kiln/core';
import { type PGraph, specialize } from '../../packages/core/src/passes';

/** The PGraph the passes start from: `fetches` specialised for one run configuration. */
export function pgraphOf(g: Graph, fetches: Record<string, Tensor>, options: { train?: boolean; bindings?: Record<string, number> } = {}): PGraph {
  const list = Object.entries(fetches).map(([key, t]) => ({ key, id: t.id }));
  return specialize(g, list, options.train ?? false, new Map(Object.entries(options.bindings ?? {})));
}

/** How many nodes of each op a PGraph holds. */
export function opCounts(pg: PGraph): Record<string, number> {
  const out: Record<string, number> = {};
  for (const n of pg.nodes) out[n.op] = (out[n.op] ?? 0) + 1;
  return out;
}

/** A plan through the whole pipeline (debug: the IR and the memory plan are validated). */
export function planOf(g: Graph, fetches: Record<string, Tensor>, options: { train?: boolean; fuse?: boolean } = {}): Plan {
  const list = Object.entries(fetches).map(([key, t]) => ({ key, id: t.id }));
  return buildPlan(g, list, options.train ?? false, new Map(), { debug: true, fuse: options.fuse ?? true });
}

/** Ops of every kernel step, in order (assigns left out). */
export const stepOps = (plan: Plan): string[][] => plan.steps.filter((s) => s.kind !== 'assign').map((s) => [...s.ops]);

/** How many kernel steps contain `op`, and how many times it occurs over all of them. */
export function opOccurrences(plan: Plan, op: string): number {
  return stepOps(plan).flat().filter((o) => o === op).length;
}

/**
 * Layer names. Each layer owns the params under `<name>/`: `dense_1/kernel`, `dense_1/bias`.
 * Default names count per graph and per kind (`dense_1`, `dense_2`, `conv2d_1`), so building
 * the same model twice in two graphs gives the same names, and checkpoints line up.
 */
import { type Graph, GraphError, OptionsError } from '@kiln/core';
import { check, graph, optional, stringArg } from '../args';

const counters = new WeakMap<Graph, Map<string, number>>();

const NAME = /^[A-Za-z_][A-Za-z0-9_.\-/]*$/;

/** The name for a new layer of `kind`: `name` itself when given, else the next free `<kind>_<n>`. */
export function layerName(g: Graph, kind: string, name?: string): string {
  check('layerName', [graph('g'), stringArg('kind'), optional(stringArg('name'))], [g, kind, name]);
  const taken = (n: string) => [...g.params.keys()].some((p) => p.startsWith(`${n}/`));
  if (name !== undefined) {
    if (!NAME.test(name)) throw new OptionsError(`${kind}: invalid layer name '${name}' (letters, digits, _ . - /; not starting with a digit)`);
    if (taken(name)) throw new GraphError(`${kind}: a layer named '${name}' already has params in this graph (${[...g.params.keys()].filter((p) => p.startsWith(`${name}/`)).join(', ')})`);
    layerKinds(g).set(name, kind);
    return name;
  }
  let byKind = counters.get(g);
  if (!byKind) counters.set(g, (byKind = new Map()));
  let n = byKind.get(kind) ?? 0;
  let candidate: string;
  do candidate = `${kind}_${++n}`; while (taken(candidate));
  byKind.set(kind, n);
  layerKinds(g).set(candidate, kind);
  return candidate;
}

const kinds = new WeakMap<Graph, Map<string, string>>();

/** The layers named in `g` so far, name to kind (`dense_1` -> `dense`), in naming order. */
export function layerKinds(g: Graph): Map<string, string> {
  let k = kinds.get(g);
  if (!k) kinds.set(g, (k = new Map()));
  return k;
}

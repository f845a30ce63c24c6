// Every primitive meets a zero-size tensor on every backend (issue 10 §4 E): in an op-table row
// (test/parity/ops.test.ts), or for elementwise ones in the IEEE sweep, so a new primitive
// needs a zero-size row.
import { ELEMENTWISE_NAMES, PRIMITIVE_NAMES, spec } from '@kiln/core';
import { buildCase, OP_CASES } from '../support/harness';

/** Primitives that never see a tensor of their own to be empty, and why. */
const NO_ZERO_SIZE_ROW: Readonly<Record<string, string>> = {
  input: 'a feed: every zero-size row feeds an empty input',
  param: 'params are resident state; an empty param is an empty input to the ops that read it',
  assign: 'a state update of a param (see param)',
  constant: 'a host value: empty constants are folded before any kernel',
  dimSize: 'a scalar (the size of symbolic dims); mean over an empty axis divides by its 0',
};

const covered = new Set<string>();
// Every elementwise primitive with inputs also runs on empty inputs in the IEEE sweep.
for (const name of ELEMENTWISE_NAMES) if ((spec(name).arity as number) > 0) covered.add(name);
for (const c of OP_CASES.filter((r) => /zero/.test(r.label ?? ''))) {
  const { g } = buildCase(c);
  for (const n of g.nodes) {
    const empty = n.shape.some((d) => d === 0) || n.inputs.some((i) => g.nodes[i]!.shape.some((d) => d === 0));
    if (empty) covered.add(n.op);
  }
}

test.each(PRIMITIVE_NAMES.filter((p) => !NO_ZERO_SIZE_ROW[p]).map((p) => [p]))('%s has a zero-size row', (p) => {
  expect(covered.has(p) ? p : `${p}: add a zero-size row to test/support/op-cases.ts`).toBe(p);
});

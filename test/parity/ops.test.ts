// Every row of the op table on every device backend against the float64 reference.
import { BACKENDS, describeBackends, orSkip } from '../support/backends';
import { caseName, checkParity, OP_CASES } from '../support/harness';

void BACKENDS;
describeBackends('op parity', (b) => {
  test.each(OP_CASES.map((c) => [caseName(c), c] as const))('%s', (_, c) => orSkip(() => checkParity(c, b.make)));
});

// The optimizer suite on the float64 reference backend (the device backends run it in backends.test.ts).
import { createReferenceBackend } from '@kiln/core';
import { describeOptimizers } from './optimizers.cases';

describeOptimizers('reference', async () => createReferenceBackend(), { atol: 1e-6, rtol: 1e-5 });

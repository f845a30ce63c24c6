// The optimizer suite on every device backend (WebGPU, gpu.js), within f32 tolerance of the
// float64 rules; an unavailable backend is reported and skipped (never under CI for WebGPU).
import { describeBackends, orSkip } from '../support/backends';
import { describeOptimizers } from './optimizers.cases';

describeBackends('optim', (b) => describeOptimizers(b.name, b.make, { guard: orSkip }));

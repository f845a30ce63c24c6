import { compileWith, Graph } from '@kiln/core';
import { createWebGPUBackend } from '../src/index';

const backend = await createWebGPUBackend();
console.log(backend.description, backend.traits);
const g = new Graph({ seed: 1 });
const x = g.input('x', [2, 3]);
const w = g.input('w', [3, 4]);
const y = x.matmul(w).relu().add(1);
const s = y.sum({ axes: [1] });
const exe = await compileWith(g, backend);
const r = await exe.run({ x: new Float32Array([1, 2, 3, 4, 5, 6]), w: new Float32Array(12).map((_, i) => i - 5) }, { y, s });
console.log(r.y.data, r.s.data, backend.stats);
await exe.dispose();
await backend.dispose();
console.log('disposed', backend.stats);

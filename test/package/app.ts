// Type-checked by scripts/pack-check.sh against the installed tarballs' .d.ts (module nodenext,
// as a user's Node project would): the public names resolve and keep their types.
import { Graph, compile, nn, optim, ShapeError, type Executable } from 'kiln';
import { createCpuBackend } from '@kiln/cpu';

const g = new Graph({ seed: 1 });
const x = g.input('x', ['batch', 3]);
const loss = nn.dense(x, 2).square().mean();
g.minimize(loss, optim.sgd({ lr: 0.1 }));
export const exe: Promise<Executable> = compile(g, { backend: 'cpu' });
export const backend = createCpuBackend({ mode: 'cpu' });
export const isShapeError = (e: unknown): boolean => e instanceof ShapeError;

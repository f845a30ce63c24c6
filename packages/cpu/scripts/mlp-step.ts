/**
 * Time one training step of the bench's MLP (784-256-10, relu, softmax cross-entropy on one-hot
 * labels, Adam lr 1e-3) on the CPU backend, per mode, with a per-kernel profile.
 *
 *   pnpm exec tsx packages/cpu/scripts/mlp-step.ts [--batch 128] [--reps 20] [--mode auto,cpu,webasm]
 *
 * (The side-by-side run with TensorFlow.js is `pnpm bench --bench mlpTrainStep`.)
 */
import { compileWith, Graph, type Optimizer, type Tensor } from '@kiln/core';
import { createCpuBackend, type CpuMode } from '../src/index';

const arg = (name: string, def: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? process.argv[i + 1]! : def;
};
const batch = Number(arg('batch', '128'));
const reps = Number(arg('reps', '20'));
const modes = arg('mode', 'auto,cpu,webasm').split(',') as CpuMode[];

/** Adam, as the bench specifies it (lr 1e-3, beta1 0.9, beta2 0.999, epsilon 1e-7). */
function adam(lr = 1e-3, b1 = 0.9, b2 = 0.999, eps = 1e-7): Optimizer {
  return {
    name: 'adam',
    apply(g, pairs) {
      const t = g.param('adam/t', [], { trainable: false });
      const t1 = t.add(1);
      g.assign(t, t1);
      const c1 = t1.mul(Math.log(b1)).exp().neg().add(1); // 1 - b1^t
      const c2 = t1.mul(Math.log(b2)).exp().neg().add(1);
      for (const { param, grad } of pairs) {
        const name = param.name;
        const m = g.param(`adam/m/${name}`, param.shape as number[], { trainable: false });
        const v = g.param(`adam/v/${name}`, param.shape as number[], { trainable: false });
        const m1 = m.mul(b1).add(grad.mul(1 - b1));
        const v1 = v.mul(b2).add(grad.square().mul(1 - b2));
        g.assign(m, m1);
        g.assign(v, v1);
        g.assign(param, param.sub(m1.div(c1).mul(lr).div(v1.div(c2).sqrt().add(eps))));
      }
    },
  };
}

function mlp(): { g: Graph; loss: Tensor } {
  const g = new Graph({ seed: 1 });
  const x = g.input('x', [batch, 784]);
  const y = g.input('y', [batch, 10]);
  const w1 = g.param('w1', [784, 256], { init: 'glorotUniform' }), b1 = g.param('b1', [256]);
  const w2 = g.param('w2', [256, 10], { init: 'glorotUniform' }), b2 = g.param('b2', [10]);
  const logits = x.matmul(w1).add(b1).relu().matmul(w2).add(b2);
  const loss = logits.softmaxCrossEntropy(y).mean();
  g.minimize(loss, adam());
  return { g, loss };
}

const xs = Float32Array.from({ length: batch * 784 }, (_, i) => ((i * 2654435761) % 1000) / 1000);
const ys = new Float32Array(batch * 10);
for (let i = 0; i < batch; i++) ys[i * 10 + (i % 10)] = 1;

for (const mode of modes) {
  const { g, loss } = mlp();
  const backend = await createCpuBackend({ mode });
  const exe = await compileWith(g, backend);
  const step = () => exe.run({ x: xs, y: ys }, { loss }, { train: true });
  for (let i = 0; i < 3; i++) await step();
  const ts: number[] = [];
  let last = 0;
  for (let i = 0; i < reps; i++) {
    const t0 = performance.now();
    last = (await step()).loss.data[0]!;
    ts.push(performance.now() - t0);
  }
  ts.sort((a, b) => a - b);
  console.log(`mode ${mode}: median ${ts[ts.length >> 1]!.toFixed(2)} ms, min ${ts[0]!.toFixed(2)} ms (loss ${last.toFixed(4)}) — ${backend.description}`);
  if (process.argv.includes('--profile')) {
    await exe.run({ x: xs, y: ys }, { loss }, { train: true, profile: true });
    console.log(exe.profileReport().text);
  }
  await exe.dispose();
  await backend.dispose();
}

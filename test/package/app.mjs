// A user's program outside the repository: plain `node app.mjs`, no TypeScript, no tsx.
// scripts/pack-check.sh installs the packed tarballs next to it and runs it once per backend
// (argv[2]: 'cpu' or 'webgpu'); it trains a small classifier and fails unless the loss falls.
import { Graph, compile, close, nn, optim } from 'kiln';

const backend = process.argv[2] ?? 'cpu';
const g = new Graph({ seed: 7 });
const x = g.input('x', ['batch', 4]);
const y = g.input('y', ['batch'], 'i32');
const h = nn.dense(x, 16, { activation: 'relu' });
const logits = nn.dense(h, 3);
const loss = logits.softmaxCrossEntropy(y).mean();
g.minimize(loss, optim.adam({ lr: 0.05 }));

// 32 seeded points, label = argmax of the first three features.
let s = 12345;
const rand = () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32) * 2 - 1;
const xs = new Float32Array(32 * 4).map(rand);
const ys = new Int32Array(32).map((_, i) => [0, 1, 2].reduce((b, c) => (xs[i * 4 + c] > xs[i * 4 + b] ? c : b), 0));

const exe = await compile(g, { backend });
const losses = [];
for (let step = 0; step < 20; step++) {
  const out = await exe.run({ x: xs, y: ys }, { loss }, { train: true });
  losses.push(out.loss.data[0]);
}
const ran = exe.backend;
await exe.dispose();
await close();
console.log(`${backend} (ran on ${ran}): loss ${losses[0].toFixed(4)} -> ${losses.at(-1).toFixed(4)} over ${losses.length} steps`);
if (!(losses.at(-1) < 0.8 * losses[0])) {
  console.error(`${backend}: loss did not fall: ${losses.map((l) => l.toFixed(4)).join(' ')}`);
  process.exit(1);
}

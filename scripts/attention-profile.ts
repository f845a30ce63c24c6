/**
 * Where a Transformer block's training step spends its time, per kernel: the bench's
 * transformerTrainStep (pre-norm encoder block, seq 128, d 128, 4 heads, feed-forward 512,
 * batch 16) profiled on one backend. Kernels are grouped into the attention core (the scores
 * and weights-times-values matmuls, the softmax, their gradients: what a fused, tiled
 * online-softmax kernel would replace) and everything else, by their shapes: a kernel that reads
 * or writes a `[batch, heads, seq, seq]` tensor belongs to the attention core.
 *
 *   tsx scripts/attention-profile.ts --backend webgpu --steps 3
 */
import { parseArgs } from 'node:util';
import { loadavg } from 'node:os';
import { close, compile, Graph, nn, optim } from 'kiln';

const { values } = parseArgs({ options: { backend: { type: 'string', default: 'webgpu' }, steps: { type: 'string', default: '3' } } });
const [batch, seq, d, heads, ff] = [16, 128, 128, 4, 512];

const g = new Graph({ seed: 1 });
const x = g.input('x', [batch, seq, d]);
const target = g.input('target', [batch, seq, d]);
const block = nn.transformerEncoderLayer({ numHeads: heads, dimFeedforward: ff, dropout: 0, normFirst: true });
const loss = block(x).sub(target).square().mean();
g.minimize(loss, optim.adam({ lr: 1e-3 }));
const exe = await compile(g, { backend: values.backend as 'webgpu' | 'cpu', quiet: true });
const feeds = { x: new Float32Array(batch * seq * d).fill(0.1), target: new Float32Array(batch * seq * d) };
await exe.run(feeds, { loss }, { train: true }); // compile and warm up

const scoresShape = `${batch},${heads},${seq},${seq}`;
const totals = { attention: 0, other: 0, attentionMatmul: 0 };
const byKernel = new Map<string, number>();
let granularity = '';
for (let s = 0; s < Number(values.steps); s++) {
  await exe.run(feeds, { loss }, { train: true, profile: true });
  const report = exe.profileReport();
  granularity = report.granularity;
  for (const e of report.entries) {
    const core = e.shapes.replace(/\s/g, '').includes(`[${scoresShape}]`);
    totals[core ? 'attention' : 'other'] += e.ms;
    if (core && e.ops.includes('matmul')) totals.attentionMatmul += e.ms;
    const key = `${core ? 'attention' : 'other'} ${e.kernel} ${e.ops.join('+')} ${e.shapes}`;
    byKernel.set(key, (byKernel.get(key) ?? 0) + e.ms);
  }
}
const all = totals.attention + totals.other;
console.log(`${exe.description}; ${granularity} timings, ${values.steps} steps, load ${loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`attention core (reads or writes [${scoresShape}]): ${(totals.attention / Number(values.steps)).toFixed(1)} ms per step, ${((100 * totals.attention) / all).toFixed(1)}%`);
console.log(`  of which matmuls: ${(totals.attentionMatmul / Number(values.steps)).toFixed(1)} ms; softmax and the rest: ${((totals.attention - totals.attentionMatmul) / Number(values.steps)).toFixed(1)} ms, ${((100 * (totals.attention - totals.attentionMatmul)) / all).toFixed(1)}% of the step`);
console.log(`everything else: ${(totals.other / Number(values.steps)).toFixed(1)} ms per step`);
console.log('heaviest kernels (ms per step):');
for (const [k, ms] of [...byKernel].sort((a, b) => b[1] - a[1]).slice(0, 15)) console.log(`  ${(ms / Number(values.steps)).toFixed(2).padStart(8)}  ${k}`);
await exe.dispose();
await close();

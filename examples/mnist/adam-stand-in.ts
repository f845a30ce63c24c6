// NOTE: a stand-in until packages/nn/src/optim lands (then main.ts imports `adam` from there
// and this file goes). Plain Adam, bias-corrected, slots as non-trainable params.
import type { Optimizer } from '@kiln/core';

export function adam({ lr, beta1 = 0.9, beta2 = 0.999, epsilon = 1e-7 }: { lr: number; beta1?: number; beta2?: number; epsilon?: number }): Optimizer {
  return {
    name: 'adam',
    apply(g, pairs) {
      const t = g.param('adam/t', [], { trainable: false });
      const t1 = t.add(1);
      g.assign(t, t1);
      const c1 = t1.mul(Math.log(beta1)).exp().neg().add(1); // 1 - beta1^t
      const c2 = t1.mul(Math.log(beta2)).exp().neg().add(1);
      for (const { param, grad } of pairs) {
        const m = g.param(`adam/m/${param.name}`, param.shape as number[], { trainable: false });
        const v = g.param(`adam/v/${param.name}`, param.shape as number[], { trainable: false });
        const m1 = m.mul(beta1).add(grad.mul(1 - beta1));
        const v1 = v.mul(beta2).add(grad.square().mul(1 - beta2));
        g.assign(m, m1);
        g.assign(v, v1);
        g.assign(param, param.sub(m1.div(c1).mul(lr).div(v1.div(c2).sqrt().add(epsilon))));
      }
    },
  };
}

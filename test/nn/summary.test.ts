import { createReferenceBackend } from '@kiln/core';
import { batchNorm, conv2d, dense, dropout, flatten, globalAvgPool2d, maxPool2d, sequential } from '../../packages/nn/src/layers';
import { softmaxCrossEntropy } from '../../packages/nn/src/losses';
import { adam } from '../../packages/nn/src/optim';
import { buildModel } from '../../packages/nn/src/train';

describe('Model.summary', () => {
  it('lists the layers sequential applied with output shapes and param counts, then the totals', async () => {
    const model = await buildModel((g) => {
      const x = g.input('x', ['batch', 3, 8, 8]);
      const y = g.input('y', ['batch'], 'i32');
      const features = sequential([conv2d(4, { kernel: 3, padding: 'same' }), batchNorm(), maxPool2d()]);
      const h = sequential([features, flatten(), dropout(0.2), dense(5, { activation: 'relu', name: 'hidden' })])(x);
      const logits = dense(h, 10); // called directly: no record of its output
      return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y), optimizer: adam({ lr: 1e-3 }) };
    }, { seed: 1, compile: createReferenceBackend() });
    // conv 3*4*9 + 4; batchNorm gamma, beta (trainable) and moving mean, variance (not);
    // hidden 64*5 + 5; dense_1 5*10 + 10. Adam: m and v per trainable value, step and lr;
    // epoch sums: count and loss.
    expect(model.summary()).toBe([
      'Layer (type)               Output shape      Param #',
      '====================================================',
      'conv2d_1 (conv2d)          [batch, 4, 8, 8]      112',
      'batch_norm_1 (batch_norm)  [batch, 4, 8, 8]       16',
      '(maxPool2d)                [batch, 4, 4, 4]        0',
      '(reshape)                  [batch, 64]             0',
      '(dropout)                  [batch, 64]             0',
      'hidden (dense)             [batch, 5]            325',
      'dense_1 (dense)            ?                      60',
      '====================================================',
      `trainable params: 505; non-trainable: 8; optimizer state and epoch sums: ${(2 * 505 + 2 + 2).toLocaleString('en-US')}`,
    ].join('\n'));
    await model.dispose();
  });

  it('names a layer without params by the composite it ends in', async () => {
    const model = await buildModel((g) => {
      const x = g.input('x', ['batch', 3, 4, 4]);
      const y = g.input('y', ['batch'], 'i32');
      const logits = sequential([conv2d(2, { kernel: 1 }), globalAvgPool2d(), dense(3)])(x);
      return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y) };
    }, { seed: 1, compile: createReferenceBackend() });
    expect(model.summary().split('\n').slice(2, 5).map((l) => l.split(/\s{2,}/))).toEqual([
      ['conv2d_1 (conv2d)', '[batch, 2, 4, 4]', '8'],
      ['(mean)', '[batch, 2]', '0'],
      ['dense_1 (dense)', '[batch, 3]', '9'],
    ]);
    await model.dispose();
  });

  it('counts thousands with separators and a model without an optimizer has only epoch sums as other state', async () => {
    const model = await buildModel((g) => {
      const x = g.input('x', ['batch', 784]);
      const y = g.input('y', ['batch'], 'i32');
      const logits = sequential([dense(128, { activation: 'relu' }), dense(10)])(x);
      return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y) };
    }, { seed: 1, compile: createReferenceBackend() });
    const lines = model.summary().split('\n');
    expect(lines.slice(2, 4).map((l) => l.split(/\s{2,}/))).toEqual([
      ['dense_1 (dense)', '[batch, 128]', '100,480'],
      ['dense_2 (dense)', '[batch, 10]', '1,290'],
    ]);
    expect(lines.at(-1)).toBe('trainable params: 101,770; non-trainable: 0; optimizer state and epoch sums: 2');
    await model.dispose();
  });
});

/**
 * @kiln/nn — what models are made of.
 *
 *   nn.dense(x, 256, { activation: 'relu' })        // layers, losses, metrics
 *   optim.adam({ lr: optim.schedules.cosine({ lr: 1e-3, steps: 5000 }) })
 *   data.loadMnist({ dir }), data.batches(ds, { batchSize: 128, shuffle: true })
 *   await fit(model, train, { epochs: 5, batchSize: 128, validation: test })
 *   await saveCheckpoint(model, 'model.safetensors')
 *
 * @module @kiln/nn
 */
export * as nn from './nn';
export * as optim from './optim';
export * as data from './data';
export * as checkpoint from './checkpoint';
export * from './train';
export { ProgressBar, type ProgressBarOptions } from './progress';

/**
 * @kiln/nn — what models are made of: data readers and batching, checkpoints (safetensors),
 * a progress bar; layers, losses, metrics, optimizers and the training loop join as they land.
 */
export * as data from './data';
export * as checkpoint from './checkpoint';
export { ProgressBar, type ProgressBarOptions } from './progress';

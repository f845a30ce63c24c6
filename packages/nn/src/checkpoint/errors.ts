/**
 * A checkpoint that cannot be written or read: a truncated or corrupt safetensors file,
 * or tensors that do not match their declared dtype and shape. The message starts with
 * the file and names the tensor, e.g.
 * `model.safetensors: tensor 'dense1.w': data_offsets [0, 396] span 396 bytes, F32 [10, 10] needs 400`.
 */
export class CheckpointError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    // NOTE: set by hand, not from new.target.name, so minified bundles keep a useful name.
    this.name = 'CheckpointError';
  }
}

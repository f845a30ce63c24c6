/**
 * Checkpoints as safetensors files, readable by PyTorch, JAX and Hugging Face tools.
 *
 *   await saveSafetensors('mlp.safetensors', { 'dense1.w': { dtype: 'F32', shape: [784, 256], data: w } }, { step: '500' });
 *   const { tensors, metadata } = await loadSafetensors('mlp.safetensors');
 *
 * `encodeSafetensors` / `decodeSafetensors` do the same on bytes (browsers, tests).
 * A corrupt file or an inconsistent tensor raises `CheckpointError`.
 */
export * from './errors';
export * from './safetensors';

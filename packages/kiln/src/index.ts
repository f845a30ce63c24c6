/**
 * kiln — the one package users import.
 *
 *   import { Graph, compile, nn, optim } from 'kiln';
 *   const g = new Graph({ seed: 1 });
 *   const x = g.input('x', ['batch', 784]);
 *   const y = g.input('y', ['batch'], 'i32');
 *   const h = nn.dense(x, 256, { activation: 'relu' });
 *   const logits = nn.dense(h, 10);
 *   const loss = logits.softmaxCrossEntropy(y).mean();
 *   g.minimize(loss, optim.adam({ lr: 1e-3 }));
 *   const exe = await compile(g, { backend: 'auto' });
 *   const { loss: l } = await exe.run({ x: xs, y: ys }, { loss }, { train: true });
 *
 * @module kiln
 */
export * from '@kiln/core';
export * from '@kiln/nn';
// Both define `evaluate`: users get the model one; the float64 graph evaluator keeps a clear name.
export { evaluate } from '@kiln/nn';
export { evaluate as evaluateReference } from '@kiln/core';
/** ONNX import and export: `onnx.importModel(bytes)`, `onnx.exportModel(graph, { inputs, outputs })`. */
export * as onnx from '@kiln/onnx';
export { compile, createBackend, close, type BackendName, type KilnCompileOptions } from './compile';

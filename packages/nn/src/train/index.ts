/**
 * Training: a Model (graph + Executable + the tensors that matter), the loop, callbacks,
 * and checkpoints of the whole Executable.
 *
 *   const model = await buildModel((g) => {
 *     const x = g.input('x', ['batch', 784]);
 *     const y = g.input('y', ['batch'], 'i32');
 *     const logits = sequential([dense(128, { activation: 'relu' }), dense(10)])(x);
 *     return { x, y, output: logits, loss: softmaxCrossEntropy(logits, y),
 *              metrics: { accuracy: accuracy(logits, y) }, optimizer: adam({ lr: 1e-3 }) };
 *   }, { seed: 1, compile: (g) => compile(g, { backend: 'auto' }) });
 *   await fit(model, train, { epochs: 5, batchSize: 128, validation: test,
 *                             callbacks: [earlyStopping({ patience: 2 })] });
 *   await saveCheckpoint(model, 'mlp.safetensors', { epoch: 5 });
 *   const { accuracy: acc } = await evaluate(model, test);
 */
export { Model, buildModel, type EpochStatistics, type ModelSpec, type ModelParts, type BuildModelOptions } from './model';
export { fit, evaluate, predict, type FitOptions, type History, type EvaluateOptions, type PredictOptions, type Predicted } from './fit';
export { earlyStopping, modelCheckpoint, onEpoch, type Callback, type TrainContext, type EpochLogs, type BatchLogs, type EarlyStoppingOptions, type ModelCheckpointOptions } from './callbacks';
export { generate, type GenerateOptions } from './generate';
export { htmlReport, renderReport, type HtmlReportOptions, type ReportData } from './report';
export { saveCheckpoint, loadCheckpoint, checkpointBytes, loadCheckpointBytes, restoreCheckpoint, NonFiniteCheckpointError, CHECKPOINT_FORMAT, type SaveCheckpointOptions, type LoadCheckpointOptions, type CheckpointInfo } from './checkpoint';

/**
 * @kiln/onnx — ONNX models in and out of Kiln.
 *
 *   import { onnx, compile } from 'kiln';
 *   const m = onnx.importModel(bytes, { trainable: true }); // { graph, inputs, outputs }
 *   const exe = await compile(m.graph, { backend: 'auto' });
 *   const out = await exe.run({ input: x }, m.outputs);
 *
 * Parsing and writing go through protobufjs with ONNX's own onnx.proto (proto/).
 *
 * @module @kiln/onnx
 */
export { importModel, StaticInputError, type ImportOptions, type ImportedModel } from './import';
export { OP_TABLE } from './ops';
export { exportModel, EXPORT_OPSET, type ExportOptions } from './export';
export { fromTensorProto, toTensorProto, type HostTensor } from './tensor';
export { decodeModel, decodeTensor } from './proto';

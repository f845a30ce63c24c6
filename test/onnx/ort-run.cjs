// Runs an ONNX model in onnxruntime-node, outside jest's module sandbox (whose typed-array
// classes are not the ones the native binding creates). stdin: JSON { model: base64,
// feeds: { name: { data: number[], dims: number[] } } }; stdout: JSON { name: { data, dims } }.
const ort = require('onnxruntime-node');
let input = '';
process.stdin.on('data', (d) => (input += d));
process.stdin.on('end', async () => {
  const { model, feeds } = JSON.parse(input);
  const session = await ort.InferenceSession.create(Buffer.from(model, 'base64'));
  const t = Object.fromEntries(Object.entries(feeds).map(([k, v]) => [k, new ort.Tensor('float32', Float32Array.from(v.data), v.dims)]));
  const out = await session.run(t);
  process.stdout.write(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, { data: Array.from(v.data, Number), dims: [...v.dims] }]))));
});

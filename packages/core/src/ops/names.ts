/**
 * The canonical list of primitive names. Declared on its own (not derived from the spec
 * table) so that types built from it never depend on the specs' gradient code.
 */
export const PRIMITIVE_NAMES = [
  // sources
  'input', 'param', 'constant', 'fill', 'random', 'dimSize',
  // elementwise
  'neg', 'abs', 'sign', 'exp', 'log', 'sqrt', 'rsqrt', 'square', 'reciprocal', 'sin', 'cos',
  'relu', 'leakyRelu', 'elu', 'sigmoid', 'tanh', 'gelu', 'erf', 'softplus',
  'add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum',
  'equal', 'notEqual', 'less', 'lessEqual', 'greater', 'greaterEqual',
  'logicalAnd', 'logicalOr', 'logicalNot', 'isNaN', 'stopGradient', 'cast', 'where',
  // reductions
  'sum', 'prod', 'max', 'min', 'argMax', 'argMin',
  // linear algebra
  'matmul',
  // movement
  'reshape', 'transpose', 'broadcastTo', 'slice', 'pad', 'concat', 'gather', 'scatterAdd',
  // convolution and pooling
  'conv2d', 'conv2dTranspose', 'conv2dBackpropFilter', 'maxPool2d', 'maxPool2dGrad',
  // state
  'assign',
] as const;

export type PrimitiveName = (typeof PRIMITIVE_NAMES)[number];

// Jest runs TypeScript through swc as native ESM (node --experimental-vm-modules),
// which is what lets the ESM-only `webgpu` (Dawn) package load inside tests.
export default {
  testEnvironment: 'node',
  roots: ['<rootDir>/test', '<rootDir>/packages'],
  testMatch: ['**/*.test.ts'],
  extensionsToTreatAsEsm: ['.ts'],
  moduleFileExtensions: ['ts', 'js', 'mjs', 'json'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', { jsc: { parser: { syntax: 'typescript' }, target: 'es2022' }, module: { type: 'es6' } }],
  },
  moduleNameMapper: {
    '^@kiln/(core|webgpu|cpu|nn|onnx)$': '<rootDir>/packages/$1/src/index.ts',
    '^kiln$': '<rootDir>/packages/kiln/src/index.ts',
  },
  // WebGPU on a software adapter compiles each new program in about a second (LLVM per pipeline).
  testTimeout: 180000,
};

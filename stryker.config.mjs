// Mutation testing of the compiler passes, the memory planner and the runtime (`pnpm mutate`).
// Each mutant is a small deliberate bug in one of the files below; the fast tests that cover
// it must fail. Results and the survivors we accept: docs/testing.md.
//
// Jest here runs TypeScript through swc as native ESM (see jest.config.js), so Stryker's test
// runner processes get `--experimental-vm-modules`, and only the tests that exercise these
// files run (the device suites and the slow nn/bench suites stay out): minutes on 2 cores.
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  packageManager: 'pnpm',
  testRunner: 'jest',
  testRunnerNodeArgs: ['--experimental-vm-modules'],
  plugins: ['@stryker-mutator/jest-runner'],
  jest: {
    projectType: 'custom',
    configFile: 'jest.config.js',
    config: {
      roots: ['<rootDir>/test'],
      // One file loads the fast, relevant suites in order and stops a mutant's run at its
      // first failing test (see the file).
      testMatch: ['<rootDir>/test/passes/mutate.entry.ts'],
    },
    enableFindRelatedTests: false,
  },
  mutate: [
    'packages/core/src/passes/*.ts',
    'packages/core/src/executable.ts',
  ],
  // Copy only what the tests need into the sandbox (node_modules folders are symlinked). No
  // tsconfig: swc does not read it, and Stryker's tsconfig rewriter needs the TypeScript JS API,
  // which TypeScript 7 no longer ships.
  ignorePatterns: ['/*', '!/packages', '!/test', '!/shaders', '!/jest.config.js', '!/package.json', '/packages/*/dist'],
  // Error-message texts are not behaviour; mutating them would only measure message matching.
  mutator: { excludedMutations: ['StringLiteral'] },
  coverageAnalysis: 'perTest',
  concurrency: 2,
  // A mutant that hangs a run (a promise never settled in the run queue, a loop that never
  // ends) is detected at 2x the covering tests' own time plus this; 20 s made each of them
  // cost a minute of a worker on a loaded machine (93 of the first 627 mutants hung).
  timeoutMS: 10000,
  timeoutFactor: 2,
  reporters: ['clear-text', 'progress-append-only', 'html', 'json'],
  htmlReporter: { fileName: 'reports/mutation/index.html' },
  jsonReporter: { fileName: 'reports/mutation/mutation.json' },
  // Later runs re-test only mutants whose code or covering tests changed (`pnpm mutate --force`
  // for a full run).
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
  thresholds: { high: 90, low: 80, break: null },
};

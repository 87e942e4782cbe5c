// Mutation testing of the numeric core and the trainer's observables
// (npm run mutate; one file: npm run mutate -- --mutate src/core/fdr1.ts).
// The mutants are compiled once into the sandbox's out/ by tsc (a tsconfig that
// builds only what the tests below need); each mutant then runs only the fast
// test files that cover it (TAP runner: per-file coverage), bailing at the first
// failure. Incremental: a rerun tests only mutants whose code or tests changed.
// Paths are relative to the repository root, where npm runs it.
// @ts-check
/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    testFiles: [
      'out/test/core/fdr1.test.js',
      'out/test/core/estimators.test.js',
      'out/test/core/numbers.test.js',
      'out/test/core/protocol.test.js',
      'out/test/core/nqm.test.js',
      'out/test/core/nqm-peers.test.js',
      'out/test/core/analyzer.test.js',
      'out/test/core/decision.test.js',
      'out/test/core/stats.test.js',
      'out/test/core/transient.test.js',
      'out/test/core/fdr2.test.js',
      'out/test/core/stationary.test.js',
      'out/test/trainer/observables.test.js',
    ],
  },
  buildCommand: 'tsc -p test/mutation/tsconfig.json',
  mutate: ['src/core/fdr1.ts', 'src/core/estimators.ts', 'src/core/stats.ts', 'src/core/decision.ts', 'src/trainer/sgd.ts'],
  // User-facing reason strings are checked where they matter (analyzer and CLI tests); a
  // mutant per message would cost a full covering run each on two shared cores.
  mutator: { excludedMutations: ['StringLiteral'] },
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  concurrency: 2,
  timeoutMS: 20000,
  timeoutFactor: 3,
  dryRunTimeoutMinutes: 15,
  ignorePatterns: [
    '/out',
    '/docs',
    '/media',
    '/webview-ui',
    '/test-results',
    '/reports',
    '/.vscode-test',
    '/.cache',
    '/.ci',
    '*.vsix',
    '/test/e2e',
    '/test/host',
    '/test/vsix',
    '/test/webview',
    '/test/extension',
    '/test/sources',
  ],
  reporters: ['html', 'json', 'clear-text', 'progress'],
  htmlReporter: {
    fileName: 'reports/mutation/mutation.html',
  },
  jsonReporter: {
    fileName: 'reports/mutation/mutation.json',
  },
  tempDirName: '.stryker-tmp',
  cleanTempDir: 'always',
};

// @ts-check
// Mutation testing of the numeric core and the trainer's observables
// (npm run mutate; one file: npm run mutate -- --mutate src/core/fdr1.ts).
// The mutants are compiled once into the sandbox's out/ by tsc (a tsconfig that
// builds only what the tests below need); each mutant then runs only the fast
// test files that cover it (TAP runner: per-file coverage), bailing at the first
// failure. Incremental: a rerun tests only mutants whose code or tests changed.
// Paths are relative to the repository root, where npm runs it.

// Fast, targeted files first: a mutant runs its covering files in this order and
// stops at the first failure. The Monte Carlo calibrations (fdr2, stationary,
// fdr2-pathwise) come last so a mutant reaches them only if the fast ones miss it.
// Left out: analyze-cli and evidence-cli (their work runs in a child CLI process,
// whose coverage Stryker cannot see; the same core code is covered directly here).
const fast = [
  'out/test/core/numbers.test.js',
  'out/test/core/options.test.js',
  'out/test/core/nqm-model.test.js',
  'out/test/core/nqm-moments.test.js',
  'out/test/core/window.test.js',
  'out/test/core/rng.test.js',
  'out/test/core/stats.test.js',
  'out/test/core/plateaus.test.js',
  'out/test/core/decision.test.js',
  'out/test/core/decision-evidence.test.js',
  'out/test/core/last-call.test.js',
  'out/test/core/segment-decision.test.js',
  // The analyzer on short hand-built streams (fast): ahead of the NQM-based files that also cover it.
  'out/test/core/analyzer-records.test.js',
  'out/test/core/analyzer-summary.test.js',
  'out/test/core/estimate.test.js',
  'out/test/core/protocol.test.js',
  'out/test/core/protocol-parse.test.js',
  'out/test/core/protocol-metrics.test.js',
  'out/test/core/estimators.test.js',
  'out/test/core/estimators-guards.test.js',
  'out/test/core/estimators-fdr2.test.js',
  'out/test/core/evidence-guards.test.js',
  'out/test/core/nqm.test.js',
  'out/test/core/nqm-peers.test.js',
  'out/test/core/fdr1.test.js',
  'out/test/core/protocol-monitor.test.js',
  'out/test/core/analyzer.test.js',
  'out/test/core/evidence.test.js',
  'out/test/core/transient.test.js',
  'out/test/trainer/observables-options.test.js',
  'out/test/trainer/observables.test.js',
  // The trainer's pathwise FDR2 fields against a float64 recomputation (a few seconds).
  'out/test/trainer/fdr2-pathwise.test.js',
];
const calibrations = ['out/test/core/fdr2.test.js', 'out/test/core/stationary.test.js', 'out/test/core/fdr2-pathwise.test.js'];
// MUTATE_FAST=1 leaves the calibrations out: a surviving mutant then costs about a
// third less, and its file's score is a lower bound of the full suite's. Run a
// file with one list or the other consistently: a mutant killed by a file that is
// not in the list is tested again.
const testFiles = process.env.MUTATE_FAST === '1' ? fast : [...fast, ...calibrations];

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: 'tap',
  plugins: ['@stryker-mutator/tap-runner'],
  tap: {
    testFiles,
  },
  buildCommand: 'tsc -p test/mutation/tsconfig.json',
  // All of src/core (every file there has runtime code; types.ts has DEFAULT_OPTIONS) and
  // the trainer's observables.
  mutate: ['src/core/**/*.ts', 'src/trainer/sgd.ts'],
  // User-facing reason strings are checked where they matter (analyzer and CLI tests); a
  // mutant per message would cost a full covering run each on two shared cores.
  mutator: { excludedMutations: ['StringLiteral'] },
  coverageAnalysis: 'perTest',
  incremental: true,
  incrementalFile: 'reports/mutation/stryker-incremental.json',
  concurrency: 2,
  // Generous: on two shared cores a covering run can take several times its dry-run time, and a
  // false timeout would count as a kill. Real infinite loops are cut short by the hit limit.
  timeoutMS: 30000,
  timeoutFactor: 3,
  dryRunTimeoutMinutes: 15,
  // out/test stays in the project: the incremental diff compares the compiled test
  // files with the last run's copies (a changed file reruns the mutants it covers or
  // killed; without them every test would look new and every mutant would rerun).
  // The mutate script compiles them first, with the same options as npm run build.
  ignorePatterns: [
    '/out/*',
    '!/out/test',
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

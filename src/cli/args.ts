/**
 * Argument helpers shared by the `fdr-monitor` subcommands: one usage error
 * type (exit code 2 with the usage text), number parsing with a range check,
 * and the decision options that `analyze` and `watch` both take.
 */
import type { AnalyzerOptions, EstimatorChoice } from '../core/types';

/** A problem with the command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** Reads `name`'s value as a number that passes `check` (described by `what`). */
export function parseNumberArg(name: string, v: string | undefined, check: (x: number) => boolean, what: string): number {
  if (v === undefined || v.startsWith('--')) throw new UsageError(`${name} needs a value (${what})`);
  const x = Number(v);
  if (v.trim() === '' || !Number.isFinite(x) || !check(x)) throw new UsageError(`${name} must be ${what}, got '${v}'`);
  return x;
}

const inUnitInterval = (x: number) => x > 0 && x < 1;

/**
 * Parses one of the decision options (--tolerance, --confidence, --drop-factor,
 * --min-steps, --estimator) into `options`. Returns false when `name` is not
 * one of them; `value` is called only when it is.
 */
export function parseDecisionOption(name: string, value: () => string | undefined, options: Partial<AnalyzerOptions>): boolean {
  switch (name) {
    case '--tolerance':
      options.tolerance = parseNumberArg(name, value(), inUnitInterval, 'a number in (0, 1)');
      return true;
    case '--confidence':
      options.confidence = parseNumberArg(name, value(), inUnitInterval, 'a number in (0, 1)');
      return true;
    case '--drop-factor':
      options.dropFactor = parseNumberArg(name, value(), inUnitInterval, 'a number in (0, 1)');
      return true;
    case '--min-steps':
      options.minSteps = parseNumberArg(name, value(), (x) => Number.isInteger(x) && x >= 0, 'an integer ≥ 0');
      return true;
    case '--estimator': {
      const v = value();
      if (v !== 'auto' && v !== 'trend' && v !== 'classic') throw new UsageError(`--estimator must be auto, trend or classic, got '${v ?? ''}'`);
      options.estimator = v as EstimatorChoice;
      return true;
    }
    default:
      return false;
  }
}

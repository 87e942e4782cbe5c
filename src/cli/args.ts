/**
 * Command-line parsing shared by the `fdr-monitor` subcommands (analyze,
 * watch, train). Each command declares its options in a table; one parser
 * (node:util `parseArgs`, then the same checks for every command) reads argv
 * into typed values:
 *
 *   unknown option        → "unknown option '--x'"
 *   option without value  → "--x needs a value (what it takes)"; a following
 *                           `--option` is not taken as the value
 *   number out of range   → "--x must be an integer ≥ 1, got '0'"
 *   value not in a choice → "--x must be a, b or c, got 'd'"
 *
 * A problem is one `UsageError`: the command prints it (with its usage) and
 * exits 2. `-h`/`--help` anywhere asks for the help text. The decision
 * options that `analyze` and `watch` both take are defined once here.
 */
import { parseArgs } from 'node:util';
import type { AnalyzerOptions } from '../core/types';

/** A problem with the command line: the command prints it with its usage and exits 2. */
export class UsageError extends Error {}

/** What a numeric option accepts: finite always, plus any of these. */
export interface NumberRule {
  integer?: boolean;
  /** Inclusive bounds. */
  min?: number;
  max?: number;
  /** Exclusive bounds. */
  above?: number;
  below?: number;
  /** How messages name it (default from the rule: "an integer ≥ 1", "a number in (0, 1)"). */
  what?: string;
}

export type OptionSpec =
  | { readonly type: 'boolean'; readonly short?: string }
  | { readonly type: 'string'; readonly what: string }
  | { readonly type: 'number'; readonly rule: NumberRule }
  | { readonly type: 'choice'; readonly choices: readonly string[] };

export type OptionTable = Readonly<Record<string, OptionSpec>>;

type ValueOf<S> = S extends { type: 'boolean' }
  ? boolean
  : S extends { type: 'number' }
    ? number
    : S extends { type: 'choice'; choices: readonly (infer C)[] }
      ? C
      : string;

/** The parsed values of a table: absent options are undefined (callers apply their defaults). */
export type OptionValues<T extends OptionTable> = { -readonly [K in keyof T]?: ValueOf<T[K]> };

export const flag = (short?: string) => ({ type: 'boolean', ...(short ? { short } : {}) }) as const;
export const text = (what: string) => ({ type: 'string', what }) as const;
export const number = (rule: NumberRule = {}) => ({ type: 'number', rule }) as const;
export const choice = <C extends string>(...choices: C[]) => ({ type: 'choice', choices }) as const;

export interface CommandLine<T extends OptionTable> {
  /** `-h`/`--help` was given: the other fields are empty and nothing was checked. */
  help: boolean;
  values: OptionValues<T>;
  /** Arguments that are not options, before a `--`. */
  positionals: string[];
  /** Everything after `--` (undefined when there is none). */
  afterDashes: string[] | undefined;
}

/** "an integer ≥ 1", "a number in (0, 1)", … */
export function describeNumber(rule: NumberRule): string {
  if (rule.what) return rule.what;
  const kind = rule.integer ? 'an integer' : 'a number';
  const lo =
    rule.min !== undefined
      ? { v: rule.min, bracket: '[', op: '≥' }
      : rule.above !== undefined
        ? { v: rule.above, bracket: '(', op: '>' }
        : undefined;
  const hi =
    rule.max !== undefined
      ? { v: rule.max, bracket: ']', op: '≤' }
      : rule.below !== undefined
        ? { v: rule.below, bracket: ')', op: '<' }
        : undefined;
  if (lo && hi) return `${kind} in ${lo.bracket}${lo.v}, ${hi.v}${hi.bracket}`;
  if (lo) return `${kind} ${lo.op} ${lo.v}`;
  if (hi) return `${kind} ${hi.op} ${hi.v}`;
  return kind;
}

function followsRule(x: number, r: NumberRule): boolean {
  return (
    Number.isFinite(x) &&
    (!r.integer || Number.isInteger(x)) &&
    (r.min === undefined || x >= r.min) &&
    (r.max === undefined || x <= r.max) &&
    (r.above === undefined || x > r.above) &&
    (r.below === undefined || x < r.below)
  );
}

/** Reads option `name`'s value `raw` as a number that follows `rule`, or throws a UsageError saying what it must be. */
export function parseNumber(name: string, raw: string, rule: NumberRule): number {
  const x = Number(raw);
  if (raw.trim() === '' || !followsRule(x, rule)) throw new UsageError(`${name} must be ${describeNumber(rule)}, got '${raw}'`);
  return x;
}

/** "a, b or c" */
function listOf(items: readonly string[]): string {
  return items.length < 2 ? items.join('') : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;
}

function whatItTakes(spec: Exclude<OptionSpec, { type: 'boolean' }>): string {
  if (spec.type === 'string') return spec.what;
  if (spec.type === 'number') return describeNumber(spec.rule);
  return listOf(spec.choices);
}

function readValue(name: string, raw: string, spec: Exclude<OptionSpec, { type: 'boolean' }>): string | number {
  if (spec.type === 'number') return parseNumber(name, raw, spec.rule);
  if (spec.type === 'choice' && !spec.choices.includes(raw)) throw new UsageError(`${name} must be ${listOf(spec.choices)}, got '${raw}'`);
  return raw;
}

/** Parses `argv` against `table` (see the file comment for the checks). */
export function parseCommandLine<T extends OptionTable>(argv: readonly string[], table: T): CommandLine<T> {
  const config: Record<string, { type: 'string' | 'boolean'; short?: string }> = { help: { type: 'boolean', short: 'h' } };
  for (const [name, spec] of Object.entries(table)) {
    config[name] = spec.type === 'boolean' ? { type: 'boolean', ...(spec.short ? { short: spec.short } : {}) } : { type: 'string' };
  }
  // Not strict: the checks below give the messages this project uses, for every command alike.
  const { tokens } = parseArgs({ args: [...argv], options: config, strict: false, allowPositionals: true, tokens: true });
  if (tokens.some((t) => t.kind === 'option' && t.name === 'help'))
    return { help: true, values: {}, positionals: [], afterDashes: undefined };
  const values: Record<string, string | number | boolean> = {};
  const positionals: string[] = [];
  let afterDashes: string[] | undefined;
  for (const t of tokens) {
    if (t.kind === 'option-terminator') {
      afterDashes = [];
    } else if (t.kind === 'positional') {
      (afterDashes ?? positionals).push(t.value);
    } else {
      const spec = Object.hasOwn(table, t.name) ? table[t.name] : undefined;
      if (!spec) throw new UsageError(`unknown option '${t.rawName}'`);
      if (spec.type === 'boolean') {
        if (t.value !== undefined) throw new UsageError(`${t.rawName} takes no value, got '${t.value}'`);
        values[t.name] = true;
        continue;
      }
      const raw = t.value;
      if (raw === undefined || raw === '' || (!t.inlineValue && raw.startsWith('--'))) {
        throw new UsageError(`${t.rawName} needs a value (${whatItTakes(spec)})`);
      }
      values[t.name] = readValue(t.rawName, raw, spec);
    }
  }
  return { help: false, values: values as OptionValues<T>, positionals, afterDashes };
}

/**
 * Prints a UsageError as "fdr-monitor COMMAND: message" (followed by `usage`
 * when given) and returns exit status 2; anything else is rethrown.
 */
export function usageFailure(command: string, err: unknown, usage?: string): number {
  if (!(err instanceof UsageError)) throw err;
  console.error(`fdr-monitor ${command}: ${err.message}${usage ? `\n\n${usage}` : ''}`);
  return 2;
}

// ------------------------------------------------------------- decision options

/** --tolerance, --confidence, --drop-factor, --min-steps, --estimator, --last-call (analyze and watch). */
export const DECISION_OPTIONS = {
  tolerance: number({ above: 0, below: 1 }),
  confidence: number({ above: 0, below: 1 }),
  'drop-factor': number({ above: 0, below: 1 }),
  'min-steps': number({ integer: true, min: 0 }),
  estimator: choice('auto', 'trend', 'classic'),
  'last-call': number({ integer: true, min: 0 }),
} as const;

/** The analyzer options given on the command line (absent ones keep the analyzer's defaults). */
export function decisionOptions(v: OptionValues<typeof DECISION_OPTIONS>): Partial<AnalyzerOptions> {
  const o: Partial<AnalyzerOptions> = {};
  if (v.tolerance !== undefined) o.tolerance = v.tolerance;
  if (v.confidence !== undefined) o.confidence = v.confidence;
  if (v['drop-factor'] !== undefined) o.dropFactor = v['drop-factor'];
  if (v['min-steps'] !== undefined) o.minSteps = v['min-steps'];
  if (v.estimator !== undefined) o.estimator = v.estimator;
  if (v['last-call'] !== undefined) o.lastCall = v['last-call'];
  return o;
}

/**
 * `fdr-monitor analyze <file | ->`: reads a metrics stream (JSON Lines, stream
 * v1, docs/protocol.md) as a stream — the file may be huge — and prints the
 * analysis: a human summary, `--json` (one AnalysisSummary object) or
 * `--decisions` (one JSON line each time the advice changes, exactly as the
 * live panel would have shown it).
 */

import { createReadStream } from 'node:fs';
import { StreamParser } from '../core/protocol';
import { Analyzer } from '../core/analyzer';
import type { AnalysisSummary, AnalyzerOptions, Decision, SegmentSummary } from '../core/types';
import { DEFAULT_OPTIONS } from '../core/types';
import { DECISION_OPTIONS, UsageError, decisionOptions, flag, parseCommandLine, usageFailure } from './args';

export const ANALYZE_USAGE = `usage: fdr-monitor analyze <file | -> [options]

Analyses a metrics stream (JSON Lines, stream v1; '-' reads stdin) and says
whether each learning-rate segment has equilibrated (FDR1, docs/math.md §5).

output (default: a human summary):
  --json                 one JSON object: records, skipped, segments, suggestion
  --decisions            one JSON line each time the advice changes (replays the live monitor)

decision options:
  --tolerance X          |ε| ≤ X counts as stationary           (default ${DEFAULT_OPTIONS.tolerance})
  --confidence C         confidence level of the intervals      (default ${DEFAULT_OPTIONS.confidence})
  --drop-factor F        suggested η_new = η·F                   (default ${DEFAULT_OPTIONS.dropFactor})
  --min-steps N          no stationary call before N steps       (default ${DEFAULT_OPTIONS.minSteps})
  --estimator E          auto | trend | classic                  (default ${DEFAULT_OPTIONS.estimator})
  --last-call N          with a stated budget (meta total_steps): in its last N steps,
                         drop unless the loss is estimated to fall by more than ½·F̂ (default ${DEFAULT_OPTIONS.lastCall}, 0 = off)
  -h, --help             this help

Exit status: 0 after analysing (whatever the stream contained), 2 for unusable
arguments, 1 for an unreadable file.`;

interface Args {
  file: string;
  mode: 'human' | 'json' | 'decisions';
  options: Partial<AnalyzerOptions>;
}

const ANALYZE_OPTIONS = {
  json: flag(),
  decisions: flag(),
  ...DECISION_OPTIONS,
} as const;

export function parseArgs(argv: string[]): Args | 'help' {
  const { help, values: v, positionals, afterDashes } = parseCommandLine(argv, ANALYZE_OPTIONS);
  if (help) return 'help';
  if (v.json && v.decisions) throw new UsageError('--json and --decisions cannot be combined');
  const files = [...positionals, ...(afterDashes ?? [])];
  if (files.length > 1) throw new UsageError(`only one input file, got '${files[0]}' and '${files[1]}'`);
  if (files.length === 0) throw new UsageError('missing input: a file, or - for stdin');
  return { file: files[0], mode: v.json ? 'json' : v.decisions ? 'decisions' : 'human', options: decisionOptions(v) };
}

/** Feeds a file (or stdin) through the parser into the analyzer, chunk by chunk. */
async function feed(file: string, parser: StreamParser): Promise<void> {
  const input = file === '-' ? process.stdin : createReadStream(file, { highWaterMark: 1 << 20 });
  input.setEncoding('utf8');
  await new Promise<void>((resolve, reject) => {
    input.on('data', (chunk: string | Buffer) => parser.push(typeof chunk === 'string' ? chunk : chunk.toString('utf8')));
    input.on('end', () => resolve());
    input.on('error', reject);
  });
  parser.end();
}

export async function run(argv: string[]): Promise<number> {
  let args: Args | 'help';
  try {
    args = parseArgs(argv);
  } catch (e) {
    return usageFailure('analyze', e, ANALYZE_USAGE);
  }
  if (args === 'help') {
    console.log(ANALYZE_USAGE);
    return 0;
  }
  const { file, mode, options } = args;
  const out: string[] = [];
  const flush = () => {
    if (out.length) {
      process.stdout.write(out.join(''));
      out.length = 0;
    }
  };
  const onDecision =
    mode === 'decisions'
      ? (d: Decision) => {
          out.push(JSON.stringify(d) + '\n');
          if (out.length >= 256) flush();
        }
      : undefined;
  let analyzer: Analyzer;
  try {
    analyzer = new Analyzer(options, { onDecision });
  } catch (e) {
    console.error(`fdr-monitor analyze: ${(e as Error).message}`);
    return 2;
  }
  const parser = new StreamParser((r) => analyzer.push(r));
  try {
    await feed(file, parser);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why =
      err.code === 'ENOENT'
        ? 'no such file'
        : err.code === 'EISDIR'
          ? 'is a directory'
          : err.code === 'EACCES'
            ? 'permission denied'
            : err.message;
    console.error(`fdr-monitor analyze: cannot read '${file}': ${why}`);
    return 1;
  }
  flush();
  const summary = analyzer.summary({ count: parser.skipped, examples: parser.examples.slice() });
  if (mode === 'json') process.stdout.write(JSON.stringify(summary) + '\n');
  else if (mode === 'human') process.stdout.write(formatHuman(summary));
  return 0;
}

function num(x: number | null | undefined, digits = 4): string {
  if (x === null || x === undefined) return '—';
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e6) ? x.toExponential(2) : String(Number(x.toPrecision(digits)));
}

function formatSegment(s: SegmentSummary): string[] {
  const L: string[] = [];
  L.push(`segment ${s.index}: η = ${num(s.lr)}, steps ${s.first_step}–${s.last_step} (${s.steps})`);
  if (s.fdr1) {
    const f = s.fdr1;
    const centre = f.center ? `, centre ${f.center}` : '';
    L.push(
      `  FDR1 (${f.estimator}${centre}, window ${f.window[0]}–${f.window[1]}): ε = ${num(f.epsilon)}` +
        (f.ci ? `, CI [${num(f.ci[0])}, ${num(f.ci[1])}]` : ', no interval yet') +
        (f.tau !== null ? `, τ ≈ ${num(f.tau, 3)} steps, ESS ≈ ${num(f.ess, 3)}` : ''),
    );
  } else L.push('  FDR1: unavailable');
  if (s.classic) L.push(`  classic (Yaida half-running): ratio ${num(s.classic.ratio)}, ε = ${num(s.classic.epsilon)}`);
  if (s.stationary) L.push(`  stationary since step ${s.stationary_at_step}`);
  else L.push(`  not stationary yet${s.eta_steps !== null ? `: forecast ≈ ${s.eta_steps} more steps` : ''}`);
  if (s.fdr2) {
    L.push(
      `  FDR2: anharmonicity ${num(s.fdr2.anharmonicity)}` +
        (s.fdr2.ci ? ` [${num(s.fdr2.ci[0])}, ${num(s.fdr2.ci[1])}]` : '') +
        (s.fdr2.estimator ? ` (${s.fdr2.estimator})` : '') +
        `, Hessian scale ${num(s.fdr2.hessian_scale)} (${s.fdr2.samples ?? 0} samples)`,
    );
    if (s.fdr2.interpretation) L.push(`    ${s.fdr2.interpretation}`);
  }
  if (s.evidence) {
    const e = s.evidence;
    L.push(
      `  evidence (${e.driving === 'loss' ? 'the drop rests on the loss' : e.driving === 'fdr1' ? 'the drop rests on FDR1' : 'waiting for either'}):`,
    );
    L.push(`    ${e.fdr1.text}`, `    ${e.loss.text}`);
  }
  for (const u of s.unavailable ?? []) L.push(`  note: ${u}`);
  for (const w of s.warnings) L.push(`  WARNING: ${w}`);
  return L;
}

export function formatHuman(s: AnalysisSummary): string {
  const L: string[] = [];
  L.push(`${s.records} records, ${s.skipped.count} skipped`);
  for (const e of s.skipped.examples) L.push(`  line ${e.line}: ${e.reason}${e.text !== undefined ? ` — ${JSON.stringify(e.text)}` : ''}`);
  for (const seg of s.segments) L.push(...formatSegment(seg));
  if (s.plateaus) {
    L.push('plateaus (stationary <|∇f|²> against η):');
    for (const r of s.plateaus.rows)
      L.push(
        `  segment ${r.segment}: η = ${num(r.lr)}, <|∇f|²> = ${num(r.grad_norm_sq)}${r.ci ? ` [${num(r.ci[0])}, ${num(r.ci[1])}]` : ''}`,
      );
    if (s.plateaus.harmonic) L.push(`  ${s.plateaus.harmonic.verdict}`);
  }
  const g = s.suggestion;
  L.push(`suggestion: ${g.action}${g.lr !== null ? ` (η → ${num(g.lr)})` : ''}: ${g.reason}`);
  return L.join('\n') + '\n';
}

/**
 * The analysis contract shared by the CLI (`analyze --json`, `--decisions`,
 * `watch`), the sources and the extension/webview. Field names of the JSON
 * shapes are public (they appear in `analyze --json`): add, never rename.
 */

export type EstimatorChoice = 'auto' | 'trend' | 'classic';

export interface AnalyzerOptions {
  /** X: |ε| ≤ X counts as stationary (docs/math.md §5). Default 0.01. */
  tolerance: number;
  /** Confidence level of the intervals. Default 0.95. */
  confidence: number;
  /** Multiplier applied to η on a drop: η_new = η·dropFactor (= 1 − Y). Default 0.1. */
  dropFactor: number;
  /** No stationary call before a segment has this many steps. */
  minSteps: number;
  estimator: EstimatorChoice;
  /**
   * The last call (docs/math.md §5.2, decision.ts inLastCall): with a stated budget (meta
   * `total_steps`), at a check with fewer than this many steps left, drop unless the loss is
   * estimated to fall by more than ½·F̂ before the end (measured: docs/decisions.md). 0 = off.
   */
  lastCall: number;
}

export const DEFAULT_OPTIONS: AnalyzerOptions = {
  tolerance: 0.01,
  confidence: 0.95,
  dropFactor: 0.1,
  minSteps: 1000,
  estimator: 'auto',
  lastCall: 500,
};

/** What the advice is. */
export type Action =
  | 'no_data' // nothing usable yet (no step records, or no FDR1 fields)
  | 'wait' // equilibrating: keep going at this η
  | 'drop_lr' // equilibrated within ±X: drop η to suggested_lr
  | 'diverging' // NaN/inf/exploding loss: drop η now
  | 'finished'; // the run ended

export interface Fdr1Estimate {
  /** Which estimator produced the numbers: 'trend' (§4.2, Yaida form with momentum terms),
   * 'trend-generic' (§4.5, param_sq + update_sq/theta_dot_update), 'classic' (§3 half-running). */
  estimator: 'trend' | 'trend-generic' | 'classic';
  /** <OL>/<OR> over the window. */
  ratio: number | null;
  /** ε = 1 − <OL>/<OR>. */
  epsilon: number | null;
  /** Confidence interval for ε at the configured confidence; null when it cannot be formed. */
  ci: [number, number] | null;
  /** Integrated autocorrelation time of the series the CI is built on, in steps. */
  tau: number | null;
  /** Effective sample size n/(2τ). */
  ess: number | null;
  /** [first, last] step of the analysed window. */
  window: [number, number];
  /** Centre id of the observables used (0 = origin). */
  center?: number;
}

export interface Fdr2Estimate {
  /**
   * A = 1 − (η/2)(1+μ)/(1−δ)<buf·H·buf>/<|∇f|²> (§6), by the estimator named in
   * `estimator`: the pathwise one (§6.2) when the stream carries its fields, else the two-batch one.
   */
  anharmonicity: number | null;
  ci: [number, number] | null;
  /** Which estimate `anharmonicity` and `ci` are (§6.2, §10.8). */
  estimator?: 'pathwise' | 'two-batch' | null;
  /** Plain-words reading of the anharmonicity and its interval (§6.2). */
  interpretation?: string | null;
  /** The two-batch estimate 1 − κΣbuf_h_buf/Σgrad_dot_grad2 (§6), null while withheld. */
  anharmonicity_two_batch?: number | null;
  anharmonicity_two_batch_ci?: [number, number] | null;
  /** The pathwise estimate ΣW/Σ(W + Q') (§6.2), with its interval and sample count. */
  anharmonicity_pathwise?: number | null;
  anharmonicity_pathwise_ci?: [number, number] | null;
  pathwise_samples?: number;
  /** Energy balance per sampled step (§6.2): dissipation η<∇F·buf'>, harmonic heating (η²/2)<buf'·H·buf'>, Taylor remainder <R>. */
  dissipation?: number | null;
  heating?: number | null;
  remainder?: number | null;
  /** <buf·H·buf>/<|buf|²> on records with buf_h_buf and buf_sq (plain SGD: <g·H·g>/<|g|²>); else the FDR2 harmonic estimate (docs/math.md §6). */
  hessian_scale: number | null;
  /** Number of FDR2 samples used. */
  samples?: number;
}

export interface SegmentSummary {
  index: number;
  lr: number;
  first_step: number;
  last_step: number;
  steps: number;
  fdr1: Fdr1Estimate | null;
  classic: { ratio: number | null; epsilon: number | null } | null;
  stationary: boolean;
  /** First step at which the live decision said stationary (drop_lr), or null. */
  stationary_at_step: number | null;
  /** Forecast of further steps needed for a decision (§5); null when stationary or unknown. */
  eta_steps: number | null;
  fdr2: Fdr2Estimate | null;
  warnings: string[];
  /** Why an estimator is not available (missing fields), human-readable. */
  unavailable?: string[];
  /** Which evidence drives the advice (FDR1, the loss trend), what holds and what it waits for (docs/decisions.md). */
  evidence?: import('./decision').DecisionEvidence;
}

/** Stationary <|∇f|²> per plateau against η (Yaida's Figure 3 test, §6). */
export interface PlateauRow {
  segment: number;
  lr: number;
  grad_norm_sq: number | null;
  ci: [number, number] | null;
  /** Standard error of grad_norm_sq (batch means, docs/math.md §4.3, §6): ci = grad_norm_sq ± t·se, t at the configured confidence. */
  se?: number | null;
  /** How grad_norm_sq was estimated (docs/math.md §6.1): the pathwise balance (§6.2) or the mean of grad_dot_grad2 (§6). */
  estimator?: 'pathwise' | 'two-batch' | null;
}

export interface AnalysisSummary {
  records: number;
  skipped: { count: number; examples: { line: number; reason: string; text?: string }[] };
  segments: SegmentSummary[];
  suggestion: { action: Action; lr: number | null; reason: string };
  plateaus?: { rows: PlateauRow[]; harmonic: { slope: number | null; r2: number | null; verdict: string } | null };
}

/** One line of `analyze --decisions` / `watch --json`: emitted whenever the advice changes. */
export interface Decision {
  step: number;
  segment: number;
  lr: number;
  action: Action;
  suggested_lr: number | null;
  epsilon: number | null;
  ci: [number, number] | null;
  eta_steps: number | null;
  reason?: string;
  /** Which evidence drives the advice, what holds and what it waits for (docs/decisions.md). */
  evidence?: import('./decision').DecisionEvidence;
}

/**
 * One evaluation of the estimators, taken at a check step (deterministic on
 * the step index, so a replay sees exactly what the live panel saw). The
 * panel plots these as the ε curve with its band.
 */
export interface EvaluationPoint {
  step: number;
  segment: number;
  lr: number;
  epsilon: number | null;
  ci: [number, number] | null;
  classic_epsilon: number | null;
  tau: number | null;
  ess: number | null;
  eta_steps: number | null;
  anharmonicity: number | null;
  anharmonicity_ci: [number, number] | null;
  hessian_scale: number | null;
  /** The anharmonicity read in words with its interval (docs/math.md §6.2, `interpretAnharmonicity`); null without an interval. */
  anharmonicity_reading?: string | null;
  action: Action;
}

/**
 * The streaming analyzer (implemented in src/core/analyzer.ts as
 * `class Analyzer implements StreamAnalyzer`, constructed as
 * `new Analyzer(options?: Partial<AnalyzerOptions>, hooks?: AnalyzerHooks)`).
 * Work per record is amortized O(1) and memory stays bounded.
 */
export interface StreamAnalyzer {
  /** Feeds one parsed record (step, meta or event), in stream order. */
  push(record: import('./protocol').StreamRecord): void;
  /** The current advice and the newest evaluation (cheap; safe to call ≤ 10×/s). */
  latest(): { decision: Decision | null; evaluation: EvaluationPoint | null };
  /** The whole `analyze --json` object; `skipped` comes from the parser that fed this analyzer. */
  summary(skipped?: { count: number; examples: { line: number; reason: string; text?: string }[] }): AnalysisSummary;
}

export interface AnalyzerHooks {
  /** Called whenever the advice changes (the `--decisions` lines). */
  onDecision?(d: Decision): void;
  /** Called at every check step with the new estimate (the panel's ε curve). */
  onEvaluation?(e: EvaluationPoint): void;
}

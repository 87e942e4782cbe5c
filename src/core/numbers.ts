/** Numbers as the analysis reports them: rounded learning rates, and short numbers in messages. */

/**
 * A learning rate rounded to 12 significant digits, so a product such as
 * 0.1 × 0.1 = 0.010000000000000002 is suggested, sent and shown as 0.01
 * (float64 carries ≈ 16 digits; 12 keep every digit a user or schedule sets).
 */
export function roundLr(lr: number): number {
  return Number(lr.toPrecision(12));
}

/** A number for a message: 3 significant digits, exponent form below 1e-3 and from 1e5 on. */
export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

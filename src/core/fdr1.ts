/**
 * FDR1 formulas (docs/math.md §3–§4), as small pure functions. Each one is the
 * equation in its doc comment; the streaming code in window.ts/analyzer.ts
 * only feeds them sums.
 *
 * Notation: η learning rate, μ momentum, δ dampening, a_t = |θ_t − c|²,
 * b_t = (θ_t − c)·buf_t (before the update), q_t = |buf_{t+1}|².
 */

/** Factor of OR (§3): OR_t = (η/2)·(1+μ)/(1−δ)·|buf_{t+1}|². */
export function orFactor(lr: number, momentum = 0, dampening = 0): number {
  return ((lr / 2) * (1 + momentum)) / (1 - dampening);
}

/** OR_t = (η/2)(1+μ)/(1−δ)|buf_{t+1}|² (§3). */
export function yaidaOR(lr: number, bufSq: number, momentum = 0, dampening = 0): number {
  return orFactor(lr, momentum, dampening) * bufSq;
}

/** ε = 1 − ratio, ratio = <OL>/<OR> (§3). */
export function epsilonOfRatio(ratio: number): number {
  return 1 - ratio;
}

/**
 * Right-hand side of the pathwise identity (§4), SGD with momentum/dampening:
 *   Σ_{t∈[s,e)} (OL_t − OR_t) = [ −(1−μ)(a_e − a_s)/(2η) + μ (b_e − b_s) ] / (1 − δ)
 * exact on every path, no expectation taken.
 */
export function identityBoundaryTerms(
  aStart: number,
  aEnd: number,
  bStart: number,
  bEnd: number,
  lr: number,
  momentum = 0,
  dampening = 0,
): number {
  return ((-(1 - momentum) * (aEnd - aStart)) / (2 * lr) + momentum * (bEnd - bStart)) / (1 - dampening);
}

/**
 * Generic form of the identity (§4, §4.5), any optimizer:
 *   Σ_{t∈[s,e)} (x_t·Δ_t + ½|Δ_t|²) = ½ (a_e − a_s).
 */
export function genericBoundaryTerms(aStart: number, aEnd: number): number {
  return (aEnd - aStart) / 2;
}

/**
 * Coefficients of the drift series z_t = k_a·a_t − k_b·b_t whose drift per step
 * equals −<OL − OR> (§4.2: the identity with the least-squares drift in place of
 * the endpoints):
 *   k_a = (1−μ)/(2η(1−δ)),  k_b = μ/(1−δ).
 */
export function driftCoefficients(lr: number, momentum = 0, dampening = 0): { ka: number; kb: number } {
  return { ka: (1 - momentum) / (2 * lr * (1 - dampening)), kb: momentum / (1 - dampening) };
}

/**
 * Trend estimate of ε (§4.2): ε̂ = −<OL − OR>/<OR> with the per-step drift
 * β_z = k_a·β_a − k_b·β_b (least-squares slopes of a_t and b_t over the window)
 * in place of the endpoint difference:  ε̂ = β_z / <OR>.
 * (ε̂ < 0 while |θ − c|² shrinks, > 0 while it grows.)
 */
export function trendEpsilon(driftZ: number, meanOR: number): number {
  return driftZ / meanOR;
}

/**
 * Generic trend estimate of ε (§4.5), any optimizer. With OL = −<x·Δ>,
 * OR = ½<|Δ|²>, stationarity is 2<x·Δ> + <|Δ|²> = 0 = drift of a, so
 *   ε̂ = 1 − OL/OR = β_a / <|Δ|²>.
 * Without `update_sq`, <|Δ|²> = β_a − 2<x·Δ> (the same identity), hence
 *   ε̂ = β_a / (β_a − 2<x·Δ>).
 */
export function genericTrendEpsilon(driftA: number, meanUpdateSq: number): number {
  return driftA / meanUpdateSq;
}

/** <|Δ|²> implied by the identity from the drift of a and <x·Δ> (§4.5). */
export function updateSqFromIdentity(driftA: number, meanThetaDotUpdate: number): number {
  return driftA - 2 * meanThetaDotUpdate;
}

/** Classic (Yaida) ε̂ = 1 − ΣOL/ΣOR over the half-running window (§3). */
export function classicEpsilon(sumOL: number, sumOR: number): number {
  return 1 - sumOL / sumOR;
}

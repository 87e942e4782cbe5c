/**
 * Independent float64 reference for a one-hidden-layer ReLU MLP with mean
 * softmax cross-entropy: loss, gradient (backprop) and the exact
 * Hessian-vector product by forward-mode differentiation of the backward
 * pass (Pearlmutter's R-operator). Plain loops over Float64Array; no tfjs.
 *
 * Parameters in the trainer's variable order: W1 [I,H], b1 [H], W2 [H,K], b2 [K].
 */

export interface MlpParams {
  W1: Float64Array;
  b1: Float64Array;
  W2: Float64Array;
  b2: Float64Array;
}

export interface Dims {
  I: number;
  H: number;
  K: number;
}

export function toParams(parts: ArrayLike<number>[]): MlpParams {
  return {
    W1: Float64Array.from(parts[0]),
    b1: Float64Array.from(parts[1]),
    W2: Float64Array.from(parts[2]),
    b2: Float64Array.from(parts[3]),
  };
}

export function flatten(p: MlpParams): Float64Array {
  const out = new Float64Array(p.W1.length + p.b1.length + p.W2.length + p.b2.length);
  let o = 0;
  for (const a of [p.W1, p.b1, p.W2, p.b2]) {
    out.set(a, o);
    o += a.length;
  }
  return out;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

export function norm(a: ArrayLike<number>): number {
  return Math.sqrt(dot(a, a));
}

export function concat(parts: ArrayLike<number>[]): Float64Array {
  const n = parts.reduce((s, p) => s + p.length, 0);
  const out = new Float64Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(Array.from(p), o);
    o += p.length;
  }
  return out;
}

/**
 * Loss, gradient and (when v is given) H·v, all in float64.
 * x: [N, I] row-major, y: [N, K] one-hot.
 */
export function mlpLossGradHvp(
  d: Dims,
  p: MlpParams,
  x: ArrayLike<number>,
  y: ArrayLike<number>,
  N: number,
  v?: MlpParams,
): { loss: number; grad: Float64Array; hv?: Float64Array } {
  const { I, H, K } = d;
  const z1 = new Float64Array(N * H);
  const a1 = new Float64Array(N * H);
  const z2 = new Float64Array(N * K);
  const P = new Float64Array(N * K);
  let loss = 0;
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      let s = p.b1[h];
      for (let i = 0; i < I; i++) s += x[n * I + i] * p.W1[i * H + h];
      z1[n * H + h] = s;
      a1[n * H + h] = s > 0 ? s : 0;
    }
    let mx = -Infinity;
    for (let k = 0; k < K; k++) {
      let s = p.b2[k];
      for (let h = 0; h < H; h++) s += a1[n * H + h] * p.W2[h * K + k];
      z2[n * K + k] = s;
      mx = Math.max(mx, s);
    }
    let se = 0;
    for (let k = 0; k < K; k++) se += Math.exp(z2[n * K + k] - mx);
    const lse = mx + Math.log(se);
    for (let k = 0; k < K; k++) {
      P[n * K + k] = Math.exp(z2[n * K + k] - lse);
      loss -= (y[n * K + k] * (z2[n * K + k] - lse)) / N;
    }
  }
  // Backward: dz2 = (P − y)/N, …
  const dz2 = new Float64Array(N * K);
  for (let j = 0; j < N * K; j++) dz2[j] = (P[j] - y[j]) / N;
  const gW1 = new Float64Array(I * H);
  const gb1 = new Float64Array(H);
  const gW2 = new Float64Array(H * K);
  const gb2 = new Float64Array(K);
  const dz1 = new Float64Array(N * H);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      gb2[k] += dz2[n * K + k];
      for (let h = 0; h < H; h++) gW2[h * K + k] += a1[n * H + h] * dz2[n * K + k];
    }
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += dz2[n * K + k] * p.W2[h * K + k];
      dz1[n * H + h] = z1[n * H + h] > 0 ? s : 0;
      gb1[h] += dz1[n * H + h];
      for (let i = 0; i < I; i++) gW1[i * H + h] += x[n * I + i] * dz1[n * H + h];
    }
  }
  const grad = flatten({ W1: gW1, b1: gb1, W2: gW2, b2: gb2 });
  if (!v) return { loss, grad };

  // R-operator: directional derivatives of every forward/backward quantity along v.
  const Rz1 = new Float64Array(N * H);
  const Ra1 = new Float64Array(N * H);
  const Rz2 = new Float64Array(N * K);
  const RP = new Float64Array(N * K);
  for (let n = 0; n < N; n++) {
    for (let h = 0; h < H; h++) {
      let s = v.b1[h];
      for (let i = 0; i < I; i++) s += x[n * I + i] * v.W1[i * H + h];
      Rz1[n * H + h] = s;
      Ra1[n * H + h] = z1[n * H + h] > 0 ? s : 0; // ReLU'' = 0 almost everywhere
    }
    let pr = 0;
    for (let k = 0; k < K; k++) {
      let s = v.b2[k];
      for (let h = 0; h < H; h++) s += Ra1[n * H + h] * p.W2[h * K + k] + a1[n * H + h] * v.W2[h * K + k];
      Rz2[n * K + k] = s;
      pr += P[n * K + k] * s;
    }
    for (let k = 0; k < K; k++) RP[n * K + k] = P[n * K + k] * (Rz2[n * K + k] - pr); // softmax Jacobian
  }
  const Rdz2 = new Float64Array(N * K);
  for (let j = 0; j < N * K; j++) Rdz2[j] = RP[j] / N;
  const hW1 = new Float64Array(I * H);
  const hb1 = new Float64Array(H);
  const hW2 = new Float64Array(H * K);
  const hb2 = new Float64Array(K);
  for (let n = 0; n < N; n++) {
    for (let k = 0; k < K; k++) {
      hb2[k] += Rdz2[n * K + k];
      for (let h = 0; h < H; h++) hW2[h * K + k] += Ra1[n * H + h] * dz2[n * K + k] + a1[n * H + h] * Rdz2[n * K + k];
    }
    for (let h = 0; h < H; h++) {
      let s = 0;
      for (let k = 0; k < K; k++) s += Rdz2[n * K + k] * p.W2[h * K + k] + dz2[n * K + k] * v.W2[h * K + k];
      const Rdz1 = z1[n * H + h] > 0 ? s : 0;
      hb1[h] += Rdz1;
      for (let i = 0; i < I; i++) hW1[i * H + h] += x[n * I + i] * Rdz1;
    }
  }
  return { loss, grad, hv: flatten({ W1: hW1, b1: hb1, W2: hW2, b2: hb2 }) };
}

/** Splits a flat vector back into the MLP's parts. */
export function unflatten(d: Dims, f: ArrayLike<number>): MlpParams {
  const { I, H, K } = d;
  const a = Float64Array.from(f);
  let o = 0;
  const take = (n: number) => a.subarray(o, (o += n));
  return { W1: take(I * H), b1: take(H), W2: take(H * K), b2: take(K) };
}

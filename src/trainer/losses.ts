/**
 * Losses that stay exact under nested autodiff (Hessian-vector products).
 *
 * tfjs 4.22 gets second derivatives through softmax / logSoftmax silently
 * wrong or throws (tensorflow/tfjs#3252; docs/trainer.md "Backends",
 * "Gotchas"): the built-in gradient of softmax reuses its saved *output*,
 * which an outer tape cannot differentiate back to the logits. The
 * cross-entropy below saves the logits instead and recomputes the softmax
 * inside its gradient, so the outer tape sees ordinary first-order ops.
 */
import * as tf from '@tensorflow/tfjs';

/** log p = z − logsumexp(z) along the last axis (numerically stable). */
function logSoftmax(z: tf.Tensor): tf.Tensor {
  return tf.sub(z, tf.logSumExp(z, -1, true));
}

/**
 * Mean softmax cross-entropy  L = −(1/N) Σ_n Σ_k y_nk log softmax(z_n)_k
 * for logits z [N, K] and target distributions y [N, K] (one-hot rows).
 *
 * Gradient (recomputed from the saved logits, twice-differentiable):
 *   ∂L/∂z = (softmax(z) − y)/N,   ∂L/∂y = −log softmax(z)/N.
 */
export const softmaxCrossEntropy: (logits: tf.Tensor, labels: tf.Tensor) => tf.Scalar = tf.customGrad(((
  logits: tf.Tensor,
  labels: tf.Tensor,
  save: tf.GradSaveFunc,
) => {
  save([logits, labels]);
  const n = logits.shape[0] ?? 1;
  const value = tf.div(tf.neg(tf.sum(tf.mul(labels, logSoftmax(logits)))), n) as tf.Scalar;
  const gradFunc = (dy: tf.Tensor, saved: tf.Tensor[]) => {
    const [z, y] = saved;
    const scale = tf.div(dy, n);
    return [tf.mul(scale, tf.sub(tf.softmax(z), y)), tf.mul(scale, tf.neg(logSoftmax(z)))];
  };
  return { value, gradFunc };
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tf.customGrad's declared type does not admit a two-input function
}) as any) as unknown as (logits: tf.Tensor, labels: tf.Tensor) => tf.Scalar;

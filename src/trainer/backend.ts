/**
 * TensorFlow.js backend selection for the trainer kit.
 *
 * Preference order (docs/trainer.md, docs/trainer.md "Backends"):
 * native GPU (`@tensorflow/tfjs-node-gpu`) → native CPU (`@tensorflow/tfjs-node`)
 * → WebAssembly (`@tensorflow/tfjs-backend-wasm`) → pure-JS cpu.
 * The native packages are optional dependencies (their install downloads
 * libtensorflow, impossible offline), so each step records WHY it was skipped;
 * the trainer puts that in `meta.backend_notes`.
 */
import * as tf from '@tensorflow/tfjs';

export type BackendName = 'tensorflow-gpu' | 'tensorflow' | 'wasm' | 'cpu';
export const BACKEND_ORDER: readonly BackendName[] = ['tensorflow-gpu', 'tensorflow', 'wasm', 'cpu'];

export interface BackendChoice {
  /** The backend that runs (stream `meta.backend`). */
  backend: BackendName;
  /** tfjs' own name for it (`tf.getBackend()`). */
  tfBackend: string;
  /** One line per better backend that was not used, saying why. */
  notes: string[];
}

/** Short reason from a failed require/initialisation (first line, no stack). */
function reason(e: unknown): string {
  const msg = e instanceof Error ? e.message : String(e);
  const first = msg.split('\n')[0];
  if (/Cannot find module '@tensorflow\/tfjs-node(-gpu)?'/.test(first)) return 'not installed';
  return first.length > 200 ? first.slice(0, 200) + '…' : first;
}

/**
 * Loading a native package registers a backend called 'tensorflow' (both the
 * CPU and the GPU build use that name). For the GPU build, tfjs-node-gpu without
 * a visible CUDA device silently runs on the CPU; we still call it
 * 'tensorflow-gpu' because that is the package that loaded, and say so.
 */
async function tryNative(pkg: '@tensorflow/tfjs-node-gpu' | '@tensorflow/tfjs-node'): Promise<void> {
  // Quiet TensorFlow's C++ start-up logging unless the user asked for it.
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '3';
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require(pkg);
  if (!(await tf.setBackend('tensorflow'))) throw new Error(`${pkg} loaded but tf.setBackend('tensorflow') failed`);
}

async function tryWasm(): Promise<void> {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  require('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend('wasm'))) throw new Error("tf.setBackend('wasm') failed");
}

async function tryCpu(): Promise<void> {
  if (!(await tf.setBackend('cpu'))) throw new Error("tf.setBackend('cpu') failed");
}

const LOADERS: Record<BackendName, () => Promise<void>> = {
  'tensorflow-gpu': () => tryNative('@tensorflow/tfjs-node-gpu'),
  tensorflow: () => tryNative('@tensorflow/tfjs-node'),
  wasm: tryWasm,
  cpu: tryCpu,
};

const PACKAGE: Record<BackendName, string> = {
  'tensorflow-gpu': '@tensorflow/tfjs-node-gpu',
  tensorflow: '@tensorflow/tfjs-node',
  wasm: '@tensorflow/tfjs-backend-wasm',
  cpu: '@tensorflow/tfjs (cpu)',
};

let chosen: BackendChoice | undefined;

/**
 * Selects and initialises a backend. With `force`, only that one is tried and
 * its failure is an error (a user who asks for `--backend tensorflow` must not
 * silently get wasm). Once a backend is chosen in this process it stays:
 * tfjs holds one engine per process, and variables live on one backend.
 */
export async function selectBackend(force?: BackendName): Promise<BackendChoice> {
  if (chosen) {
    if (force && force !== chosen.backend) {
      throw new Error(`backend already initialised as '${chosen.backend}' in this process; cannot switch to '${force}'`);
    }
    return chosen;
  }
  // tfjs prints a "use tfjs-node" banner via console.warn on first cpu use; PROD
  // mode silences it (our meta record already says which backend runs and why).
  tf.env().set('PROD', true);
  const notes: string[] = [];
  const order = force ? [force] : BACKEND_ORDER;
  for (const name of order) {
    try {
      await LOADERS[name]();
      chosen = { backend: name, tfBackend: tf.getBackend(), notes };
      return chosen;
    } catch (e) {
      if (force) throw new Error(`backend '${force}' (${PACKAGE[force]}) is not available: ${reason(e)}`, { cause: e });
      notes.push(`${name} (${PACKAGE[name]}): ${reason(e)}`);
    }
  }
  throw new Error(`no TensorFlow.js backend could be initialised: ${notes.join('; ')}`);
}

export function parseBackendName(s: string): BackendName {
  if ((BACKEND_ORDER as readonly string[]).includes(s)) return s as BackendName;
  if (s === 'native' || s === 'node') return 'tensorflow';
  if (s === 'gpu') return 'tensorflow-gpu';
  throw new Error(`unknown backend '${s}' (expected one of ${BACKEND_ORDER.join(', ')})`);
}

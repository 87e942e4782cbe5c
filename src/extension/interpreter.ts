/**
 * Which Python runs a .py training script and the PyTorch example, whether
 * it can import torch, and the start spec of a workspace script. Plain Node
 * (no `vscode`): python.ts gathers the inputs from the settings and the
 * Python extension.
 */
import { execFile } from 'node:child_process';
import * as path from 'node:path';
import type { StartSpec } from './session';

/** The interpreter used when nothing names one. */
export const DEFAULT_PYTHON = 'python3';

export interface InterpreterInputs {
  /** `fdrMonitor.pythonInterpreter` ('' = not set). */
  setting: string;
  /** The Python extension's selected interpreter, when that extension is installed and reports one. */
  pythonExtension?: string;
  /** `python.defaultInterpreterPath` when set by the user (only read when the Python extension is installed). */
  pythonDefaultPath?: string;
}

export type InterpreterOrigin = 'fdrMonitor.pythonInterpreter' | 'Python extension' | 'python.defaultInterpreterPath' | 'default';

export interface Interpreter {
  path: string;
  from: InterpreterOrigin;
}

/**
 * Resolution order: our own setting, then the interpreter the Python
 * extension selected, then its `python.defaultInterpreterPath`, then python3.
 * Blank values count as unset.
 */
export function resolveInterpreter(i: InterpreterInputs): Interpreter {
  const set = (v: string | undefined): v is string => typeof v === 'string' && v.trim() !== '';
  if (set(i.setting)) return { path: i.setting.trim(), from: 'fdrMonitor.pythonInterpreter' };
  if (set(i.pythonExtension)) return { path: i.pythonExtension.trim(), from: 'Python extension' };
  if (set(i.pythonDefaultPath)) return { path: i.pythonDefaultPath.trim(), from: 'python.defaultInterpreterPath' };
  return { path: DEFAULT_PYTHON, from: 'default' };
}

/** How to get torch, for the start picker and the message when it is missing. */
export const TORCH_HINT =
  'pip install torch (on Debian: apt install python3-torch), or set fdrMonitor.pythonInterpreter to a Python that has it';

export type TorchProbe = { ok: true } | { ok: false; reason: string };

/** Importing torch takes seconds on a busy machine; longer than this counts as "not available". */
export const TORCH_PROBE_TIMEOUT_MS = 30_000;

const probes = new Map<string, Promise<TorchProbe>>();

/**
 * Whether `python -c "import torch"` succeeds: run once per interpreter path
 * and cached (a failed probe too: installing torch takes a reload).
 */
export function probeTorch(python: string, timeoutMs = TORCH_PROBE_TIMEOUT_MS): Promise<TorchProbe> {
  let p = probes.get(python);
  if (!p) {
    p = new Promise<TorchProbe>((resolve) => {
      execFile(python, ['-c', 'import torch'], { timeout: timeoutMs, windowsHide: true }, (err, _stdout, stderr) => {
        if (!err) return resolve({ ok: true });
        const e = err as NodeJS.ErrnoException & { killed?: boolean; code?: number | string };
        if (e.code === 'ENOENT') return resolve({ ok: false, reason: `${python} not found` });
        if (e.killed) return resolve({ ok: false, reason: `${python} -c "import torch" did not finish within ${timeoutMs / 1000} s` });
        const last = String(stderr).trim().split('\n').pop() ?? '';
        resolve({ ok: false, reason: `${python} cannot import torch${last ? ` (${last.slice(0, 200)})` : ''}` });
      });
    });
    probes.set(python, p);
  }
  return p;
}

/**
 * The start spec of a training script from the workspace: .py files run
 * unbuffered (-u) with `python`; .js/.mjs/.cjs files with
 * `fdrMonitor.trainerCommand`. An error message when there is no command.
 */
export function scriptSpec(file: string, o: { trainerCommand: string[]; python: string }): StartSpec | { error: string } {
  const cmd = file.endsWith('.py') ? [o.python, '-u'] : o.trainerCommand;
  if (!cmd.length || !cmd[0]) return { error: 'FDR: the setting fdrMonitor.trainerCommand is empty.' };
  return { kind: 'script', command: cmd[0], args: [...cmd.slice(1), file], cwd: path.dirname(file), title: path.basename(file) };
}

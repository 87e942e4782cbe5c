/**
 * The Python interpreter for .py scripts and the PyTorch example:
 * `fdrMonitor.pythonInterpreter`, else the one the Python extension selected
 * (its API, then `python.defaultInterpreterPath`) when that extension is
 * installed, else python3 (interpreter.ts has the order as a pure function).
 * The Python extension is optional: nothing here needs it.
 */
import * as vscode from 'vscode';
import { resolveInterpreter, type Interpreter } from './interpreter';

const PYTHON_EXTENSION = 'ms-python.python';
/** The Python extension activates in seconds; past this, it is not waited for. */
const PYTHON_EXTENSION_TIMEOUT_MS = 10_000;

/** The part of the Python extension's API read here (its `environments` API). */
interface PythonApi {
  environments?: {
    getActiveEnvironmentPath(resource?: vscode.Uri): { id: string; path: string } | undefined;
    resolveEnvironment?(env: { id: string; path: string }): Promise<{ executable?: { uri?: vscode.Uri } } | undefined>;
  };
}

export async function pythonInterpreter(setting: string, log: (line: string) => void): Promise<Interpreter> {
  const ext = setting.trim() ? undefined : vscode.extensions.getExtension<PythonApi>(PYTHON_EXTENSION);
  if (!ext) return resolveInterpreter({ setting });
  let selected: string | undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    selected = await Promise.race([
      selectedByPythonExtension(ext),
      new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), PYTHON_EXTENSION_TIMEOUT_MS))),
    ]);
  } catch (e) {
    log(`the Python extension did not report an interpreter: ${(e as Error).message}`);
  } finally {
    clearTimeout(timer);
  }
  return resolveInterpreter({ setting, pythonExtension: selected, pythonDefaultPath: userDefaultInterpreterPath() });
}

async function selectedByPythonExtension(ext: vscode.Extension<PythonApi>): Promise<string | undefined> {
  const api = ext.isActive ? ext.exports : await ext.activate();
  const envs = api?.environments;
  const resource = vscode.workspace.workspaceFolders?.[0]?.uri;
  const env = envs?.getActiveEnvironmentPath(resource);
  if (!env) return undefined;
  // `path` may be an environment folder; the resolved environment names the executable.
  const resolved = await envs?.resolveEnvironment?.(env);
  return resolved?.executable?.uri?.fsPath ?? env.path;
}

/** `python.defaultInterpreterPath` as the user set it (not the Python extension's default "python"). */
function userDefaultInterpreterPath(): string | undefined {
  const i = vscode.workspace.getConfiguration('python').inspect<string>('defaultInterpreterPath');
  const v = i?.workspaceFolderValue ?? i?.workspaceValue ?? i?.globalValue;
  if (!v) return undefined;
  const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
  return folder ? v.replace(/\$\{workspaceFolder\}/g, folder) : v;
}

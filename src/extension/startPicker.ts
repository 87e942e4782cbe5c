/**
 * `fdrMonitor.start`: with a StartSpec argument (tests, the launcher) it
 * starts that; otherwise the quick pick of what to watch (or
 * `fdrMonitor.defaultSource`). The PyTorch example is offered when the
 * configured Python can import torch (probed once per interpreter, in the
 * background; the picker shows what the probe knew when it opened); otherwise
 * its item says how to get torch.
 */
import * as vscode from 'vscode';
import { readConfig, type MonitorConfig } from './config';
import { probeTorch, scriptSpec, TORCH_HINT, type TorchProbe } from './interpreter';
import type { Monitor } from './monitor';
import { pythonInterpreter } from './python';
import type { Session, StartSpec } from './session';

const CHOICES = ['nqm', 'mnist-mlp', 'torch-mnist-mlp', 'script', 'tail', 'connect', 'listen'] as const;
type Choice = (typeof CHOICES)[number];

interface Item extends vscode.QuickPickItem {
  id: Choice;
}

/** An item of the open picker, as the in-host tests see it. */
export interface PickerItemView {
  id: string;
  label: string;
  description?: string;
  detail?: string;
}

/** PyTorch for the example: which Python, and whether it imports torch (undefined while probing). */
interface TorchCheck {
  python: string;
  probe?: TorchProbe;
}

const TORCH_LABEL = 'PyTorch MNIST MLP example';

export class StartPicker {
  private open: readonly Item[] | null = null;
  /** The newest torch probe result, shown the next time the picker opens. */
  private lastTorch: { configured: string; check: Required<TorchCheck> } | undefined;

  constructor(private readonly monitor: Monitor) {}

  /** The items of the start picker while it is open (null otherwise). */
  get items(): readonly PickerItemView[] | null {
    return this.open?.map(({ id, label, description, detail }) => ({ id, label, description, detail })) ?? null;
  }

  async pickAndStart(): Promise<Session | undefined> {
    const cfg = readConfig();
    let choice: Choice | undefined = (CHOICES as readonly string[]).includes(cfg.defaultSource) ? (cfg.defaultSource as Choice) : undefined;
    if (!choice) choice = await this.ask(cfg);
    if (!choice) return undefined;
    const spec = await this.specFor(choice, cfg);
    if (!spec) return undefined;
    return this.monitor.start(spec);
  }

  /** Resolves the interpreter and probes it for torch (cached per interpreter path). */
  private async torchCheck(cfg: MonitorConfig): Promise<Required<TorchCheck>> {
    const py = await pythonInterpreter(cfg.pythonInterpreter, (l) => this.monitor.log(l));
    return { python: py.path, probe: await probeTorch(py.path) };
  }

  private itemsFor(cfg: MonitorConfig, trusted: boolean, torch: TorchCheck | undefined): Item[] {
    const needsTrust = trusted ? '' : ' (needs a trusted workspace)';
    return [
      {
        id: 'nqm',
        label: '$(beaker) NQM example',
        description: `noisy quadratic, in the background${needsTrust}`,
        detail: 'Reaches a drop suggestion within seconds: the quickest way to see the panel work.',
      },
      { id: 'mnist-mlp', label: '$(beaker) MNIST MLP example', description: `TensorFlow.js, in the background${needsTrust}` },
      torchItem(torch, needsTrust),
      { id: 'script', label: '$(file-code) Run a training script from the workspace…', description: needsTrust.trim() },
      { id: 'tail', label: '$(eye) Tail a log file…', description: 'JSON Lines, stream v1' },
      { id: 'connect', label: '$(plug) Connect to a WebSocket URL…' },
      { id: 'listen', label: '$(radio-tower) Listen for trainers', description: `ws://${cfg.wsHost}:${cfg.wsPort}` },
    ];
  }

  private ask(cfg: MonitorConfig): Promise<Choice | undefined> {
    const trusted = vscode.workspace.isTrusted;
    const qp = vscode.window.createQuickPick<Item>();
    qp.title = 'Start FDR monitor';
    qp.placeholder = 'What should FDR Monitor watch?';
    qp.matchOnDescription = true;
    // The items are set once, before the picker shows: replacing them while it
    // is open can move the row under the user's click. The torch item says what
    // the probe knows now (a result from an earlier open, else "checking");
    // choosing it while the probe still runs waits for the probe.
    // No probe in Restricted Mode: the interpreter may come from the workspace, and nothing may start there anyway.
    const known = this.lastTorch?.configured === cfg.pythonInterpreter ? this.lastTorch.check : undefined;
    const torch: TorchCheck | undefined = trusted ? (known ?? { python: cfg.pythonInterpreter || 'Python' }) : undefined;
    if (trusted) {
      void this.torchCheck(cfg).then(
        (check) => (this.lastTorch = { configured: cfg.pythonInterpreter, check }),
        () => undefined,
      );
    }
    const items = this.itemsFor(cfg, trusted, torch);
    qp.items = items;
    this.open = items;
    return new Promise((resolve) => {
      qp.onDidAccept(() => {
        resolve(qp.selectedItems[0]?.id);
        qp.hide();
      });
      qp.onDidHide(() => {
        this.open = null;
        resolve(undefined);
        qp.dispose();
      });
      qp.show();
    });
  }

  private async specFor(choice: Choice, cfg: MonitorConfig): Promise<StartSpec | undefined> {
    switch (choice) {
      case 'nqm':
        return { kind: 'example', example: 'nqm', args: cfg.nqmArgs };
      case 'mnist-mlp':
        return { kind: 'example', example: 'mnist-mlp', args: cfg.mnistArgs };
      case 'torch-mnist-mlp': {
        // Untrusted: the start is refused (and says why) without running any Python.
        if (!vscode.workspace.isTrusted) return { kind: 'example', example: 'torch-mnist-mlp', args: cfg.torchArgs };
        const t = await this.torchCheck(cfg);
        if (!t.probe.ok) {
          void vscode.window.showWarningMessage(`FDR: the PyTorch example needs torch: ${t.probe.reason}. ${TORCH_HINT}.`);
          return undefined;
        }
        return { kind: 'example', example: 'torch-mnist-mlp', python: t.python, args: cfg.torchArgs };
      }
      case 'script': {
        const files = await vscode.workspace.findFiles('**/*.{js,mjs,cjs,py}', '**/node_modules/**', 500);
        if (!files.length) {
          void vscode.window.showInformationMessage('FDR: no .js, .mjs, .cjs or .py file in the workspace.');
          return undefined;
        }
        const pick = await vscode.window.showQuickPick(
          files.map((u) => ({ label: vscode.workspace.asRelativePath(u), uri: u })),
          { title: 'Training script', placeHolder: 'It must print stream v1 (JSON Lines) on stdout' },
        );
        if (!pick) return undefined;
        const file = pick.uri.fsPath;
        const python = file.endsWith('.py') ? (await pythonInterpreter(cfg.pythonInterpreter, (l) => this.monitor.log(l))).path : '';
        const spec = scriptSpec(file, { trainerCommand: cfg.trainerCommand, python });
        if ('error' in spec) {
          void vscode.window.showErrorMessage(spec.error);
          return undefined;
        }
        return spec;
      }
      case 'tail': {
        const uris = await vscode.window.showOpenDialog({
          canSelectMany: false,
          openLabel: 'Tail this log',
          title: 'Metrics log (JSON Lines, stream v1)',
        });
        if (!uris?.length) return undefined;
        return { kind: 'tail', path: uris[0].fsPath, from: 'start' };
      }
      case 'connect': {
        const url = await vscode.window.showInputBox({
          title: 'Connect to a trainer',
          prompt: 'WebSocket URL of a trainer that serves stream v1',
          value: `ws://${cfg.wsHost}:${cfg.wsPort}/`,
          validateInput: (v) => (/^wss?:\/\/[^\s]+$/.test(v.trim()) ? undefined : 'Enter a ws:// or wss:// URL'),
        });
        if (!url) return undefined;
        return { kind: 'connect', url: url.trim(), token: cfg.wsToken };
      }
      case 'listen':
        return { kind: 'listen', host: cfg.wsHost, port: cfg.wsPort, token: cfg.wsToken };
    }
  }
}

/** The PyTorch example's item: needs trust / checking / ready / how to get torch. */
function torchItem(torch: TorchCheck | undefined, needsTrust: string): Item {
  if (!torch) return { id: 'torch-mnist-mlp', label: `$(beaker) ${TORCH_LABEL}`, description: `PyTorch, in the background${needsTrust}` };
  if (!torch.probe)
    return { id: 'torch-mnist-mlp', label: `$(loading~spin) ${TORCH_LABEL}`, description: `checking whether ${torch.python} has PyTorch…` };
  if (torch.probe.ok)
    return { id: 'torch-mnist-mlp', label: `$(beaker) ${TORCH_LABEL}`, description: `PyTorch (${torch.python}), in the background` };
  return {
    id: 'torch-mnist-mlp',
    label: `$(circle-slash) ${TORCH_LABEL}`,
    description: 'unavailable: PyTorch not found',
    detail: `${torch.probe.reason}. ${TORCH_HINT}.`,
  };
}

function isStartSpec(v: unknown): v is StartSpec {
  if (!v || typeof v !== 'object') return false;
  const k = (v as { kind?: unknown }).kind;
  return k === 'example' || k === 'script' || k === 'tail' || k === 'connect' || k === 'listen';
}

export function registerStartCommand(monitor: Monitor, picker: StartPicker): vscode.Disposable {
  // An argument (a StartSpec) skips the quick pick: used by tests and the launcher.
  return vscode.commands.registerCommand('fdrMonitor.start', (spec?: unknown) =>
    (isStartSpec(spec) ? monitor.start(spec) : picker.pickAndStart()).then((s) => s?.id, monitor.report),
  );
}

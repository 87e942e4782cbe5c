/**
 * The panel (webview-ui/src/app.ts) in a DOM of its own: a happy-dom window
 * with the webview's <div id="app">, a stand-in for VS Code's
 * acquireVsCodeApi() (records what the panel posts, keeps the state it saves
 * as JSON, as VS Code does across a hide/reload), and typed host messages.
 * Charts are left out (happy-dom has no canvas); everything else is the real
 * panel: cards, toolbar, message handling, persistence, render loop.
 */
import { Window } from 'happy-dom';
import { createPanel, type Panel } from '../../../webview-ui/src/app';
import type { PanelWindow } from '../../../webview-ui/src/context';
import type { VsCodeApi } from '../../../webview-ui/src/host';
import { suggestionText, type PanelStatus, type Suggestion, type UpdateMessage, type WebviewToHost } from '../../../src/shared/messages';

/** What acquireVsCodeApi() gives a webview: postMessage to the host, and state kept across reloads. */
export class FakeVsCodeApi implements VsCodeApi {
  /** Every message posted to the host, in order. */
  readonly posted: WebviewToHost[] = [];
  /** How often setState was called. */
  saves = 0;
  private saved: string | undefined;

  /** `state`: what an earlier panel saved (held as JSON, like VS Code does). */
  constructor(state?: unknown) {
    if (state !== undefined) this.saved = JSON.stringify(state);
  }

  postMessage(m: WebviewToHost): void {
    // Messages cross to the host as JSON.
    this.posted.push(JSON.parse(JSON.stringify(m)) as WebviewToHost);
  }

  getState(): unknown {
    return this.saved === undefined ? undefined : JSON.parse(this.saved);
  }

  setState(s: unknown): void {
    this.saves++;
    this.saved = JSON.stringify(s);
  }

  /** The posted messages of one type. */
  sent<T extends WebviewToHost['type']>(type: T): Extract<WebviewToHost, { type: T }>[] {
    return this.posted.filter((m): m is Extract<WebviewToHost, { type: T }> => m.type === type);
  }
}

export interface TestPanel {
  win: Window;
  doc: Document;
  vscode: FakeVsCodeApi;
  panel: Panel;
  /** Delivers a message from the host as the webview receives it (a `message` event on the window). */
  send(data: unknown): void;
  /** The element with this id; fails the test when there is none. */
  byId<T extends HTMLElement = HTMLElement>(id: string): T;
  /** Trimmed text of the element with this id. */
  text(id: string): string;
  /** Resolves once the render loop has drawn the next frame (the panel's own timer, not a forced render). */
  nextFrame(): Promise<void>;
  /** The panel's window is hidden (VS Code hides a webview whose tab is in the background). */
  hide(): void;
  close(): Promise<void>;
}

/** A frame not drawn by then was never scheduled (a broken test, not a slow machine): fail instead of hanging. */
const NO_FRAME_MS = 30_000;

export function openPanel(vscode = new FakeVsCodeApi()): TestPanel {
  const win = new Window({ url: 'https://fdr-panel.test/', width: 1000, height: 1200 });
  const doc = win.document as unknown as Document;
  doc.body.className = 'vscode-dark';
  doc.body.innerHTML = '<div id="app"></div>';
  const panel = createPanel({ window: win as unknown as PanelWindow, vscode });
  const byId = <T extends HTMLElement>(id: string): T => {
    const e = doc.getElementById(id);
    if (!e) throw new Error(`no #${id} in the panel`);
    return e as T;
  };
  return {
    win,
    doc,
    vscode,
    panel,
    send: (data) => win.dispatchEvent(new win.MessageEvent('message', { data })),
    byId,
    text: (id) => (byId(id).textContent ?? '').trim(),
    nextFrame: () => {
      const frames = panel.metrics.renderTimes.length;
      const giveUp = Date.now() + NO_FRAME_MS;
      return new Promise<void>((resolve, reject) => {
        const poll = (): void => {
          if (panel.metrics.renderTimes.length > frames) resolve();
          else if (Date.now() > giveUp) reject(new Error(`no frame drawn within ${NO_FRAME_MS} ms: was a render scheduled?`));
          else setTimeout(poll, 2);
        };
        poll();
      });
    },
    hide: () => {
      Object.defineProperty(doc, 'hidden', { configurable: true, get: () => true });
      doc.dispatchEvent(new win.Event('visibilitychange') as unknown as Event);
    },
    close: () => win.happyDOM.close(),
  };
}

export const RUN = { id: 'run-1', title: 'NQM example' };

export function status(over: Partial<PanelStatus> = {}): PanelStatus {
  return {
    state: 'equilibrating',
    source: 'NQM example (pid 4242)',
    connection: 'live',
    backend: 'float64',
    run: 'nqm',
    step: 1234,
    lr: 0.1,
    epsilon: 0.0321,
    ci: [0.011, 0.0532],
    classicEpsilon: 0.045,
    tau: 3.25,
    ess: 380,
    etaSteps: 2000,
    etaSeconds: 240,
    stepsPerSecond: 500,
    records: 1234,
    skipped: 0,
    skipReasons: [],
    warnings: [],
    controlBlocked: null,
    tolerance: 0.01,
    confidence: 0.95,
    autoApply: false,
    ...over,
  };
}

export function suggestion(over: Partial<Suggestion> = {}): Suggestion {
  const s: Omit<Suggestion, 'text'> = {
    id: 'seg-0:drop_lr',
    action: 'drop_lr',
    step: 5000,
    lr: 0.1,
    suggestedLr: 0.01,
    epsilon: 0.004,
    ci: [-0.003, 0.009],
    tolerance: 0.01,
    confidence: 0.95,
    ...over,
  };
  return { text: suggestionText(s), ...s, ...over };
}

/** Steps from..to−1 of a series with values f(step). */
export function cols(from: number, to: number, f: (x: number) => number) {
  const xs: number[] = [];
  const ys: number[] = [];
  for (let x = from; x < to; x++) {
    xs.push(x);
    ys.push(f(x));
  }
  return { xs, ys };
}

/** The snapshot the host sends after `ready`: a reset with the run, its series and cards. */
export function snapshot(seq: number, over: Partial<UpdateMessage> = {}): UpdateMessage {
  return {
    type: 'update',
    seq,
    reset: true,
    run: RUN,
    series: { loss: cols(0, 1234, (x) => 2 * Math.exp(-x / 300) + 0.1), lr: { xs: [0], ys: [0.1] } },
    status: status(),
    ...over,
  };
}

/** A live delta: the next `seq`, a few more steps. */
export function delta(seq: number, over: Partial<UpdateMessage> = {}): UpdateMessage {
  return { type: 'update', seq, series: { loss: cols(1234 + 10 * seq, 1244 + 10 * seq, () => 0.2) }, ...over };
}

/** Runs `body` on a fresh panel (with `vscode` as its host API when given) and closes the panel after, pass or fail. */
export async function withPanel(body: (p: TestPanel) => Promise<void>, vscode?: FakeVsCodeApi): Promise<void> {
  const p = openPanel(vscode);
  try {
    await body(p);
  } finally {
    await p.close();
  }
}

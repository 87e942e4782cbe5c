/**
 * `fdr-monitor watch`: follows a live source (src/sources) through the
 * streaming analyzer (src/core/analyzer.ts), for terminals and remote
 * machines.
 *
 *   stdout  --json: one Decision line each time the advice changes (exactly as
 *           `analyze --decisions`), and at the end, as the last line, the
 *           summary object of `analyze --json` for the records seen.
 *           Otherwise: one human line per advice change, then the human summary.
 *           --listen: each run's summary (with its `run` id) as soon as that
 *           run ends, when its analysis is released; live runs' at the end.
 *   stderr  the live one-line status when stderr is a terminal (rewritten in
 *           place), notices (source state, file rotation, control requests)
 *           and the trainer's stderr lines (--run).
 *
 * It ends when the source ends — the process exits (--run), the trainer sends
 * `finished` (--tail, --connect), --exit-after-runs N runs have ended
 * (--listen) — or on SIGINT/SIGTERM, which also stops a --run trainer.
 */
import { readFileSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { Analyzer } from '../core/analyzer';
import type { StreamRecord } from '../core/protocol';
import type { AnalyzerOptions, Decision } from '../core/types';
import {
  createSource,
  newListenToken,
  WebSocketServerSource,
  type ProcessSource,
  type Run,
  type Source,
  type SourceSpec,
} from '../sources';
// The environment variable a token can come from (instead of --token, which `ps` shows); the trainer reads the same.
import { TOKEN_ENV } from '../trainer/auth';
import { formatHuman } from './analyze';
import { DECISION_OPTIONS, UsageError, decisionOptions, flag, number, parseCommandLine, text, usageFailure } from './args';

export const WATCH_USAGE = `usage: fdr-monitor watch <source> [options]

Follows a live training run and says when it has equilibrated (FDR1).

source (exactly one):
  --tail FILE            follow a JSON Lines log (backlog first; --from-end to skip it)
  --connect URL          connect to a trainer's WebSocket server (reconnects with backoff)
  --listen PORT          accept trainers' WebSocket connections (each is a run)
     --host H            listen address                          (default 127.0.0.1)
     --exit-after-runs N end once N runs have ended              (default: run until SIGINT)
  --run -- CMD ARGS…     start the trainer and read its stdout (control via its stdin)
     --cwd DIR           working directory of the trainer
  --token T              --connect: sent as a bearer token (default: ?token= in the URL, else
                         $FDR_MONITOR_TOKEN); --listen: required from trainers
                         (--listen makes a random one unless given; it prints the URL to use)
  --token-file F         the token from file F (first line), kept out of 'ps'; or set
                         FDR_MONITOR_TOKEN in the environment
  --no-token             --listen: accept trainers without a token (127.0.0.1 only, unless --host)

output:
  --json                 decision lines as 'analyze --decisions', the 'analyze --json'
                         summary as the last line when the source ends
                         (--listen: each run's summary when that run ends)
  --auto-apply           send the suggested learning-rate drop (advice drop_lr) to the
                         trainer itself, once per segment
  --control-timeout S    seconds to wait for the trainer's acknowledgement (default 15)

decision options (as 'analyze'):
  --tolerance X  --confidence C  --drop-factor F  --min-steps N  --estimator auto|trend|classic
  --last-call N
  -h, --help             this help

Exit status: 0 when the source ended normally or on SIGINT/SIGTERM; the trainer's
exit status (--run) when it failed; 1 when the source could not start; 2 for
unusable arguments.`;

/** Runs a `watch --listen` keeps analysing at once; the listener refuses more (503) until one ends. */
export const MAX_WATCHED_RUNS = 64;

export interface WatchArgs {
  spec: SourceSpec;
  /** --listen: the token was generated here (none given): the URL with it is printed. */
  tokenGenerated: boolean;
  json: boolean;
  autoApply: boolean;
  exitAfterRuns: number | undefined;
  options: Partial<AnalyzerOptions>;
}

const WATCH_OPTIONS = {
  tail: text('a file'),
  'from-end': flag(),
  connect: text('a ws:// URL'),
  listen: number({ integer: true, min: 0, max: 65535, what: 'a port number (0–65535)' }),
  host: text('an address'),
  token: text('a token'),
  'token-file': text('a file'),
  'no-token': flag(),
  run: flag(),
  cwd: text('a directory'),
  'exit-after-runs': number({ integer: true, min: 1 }),
  json: flag(),
  'auto-apply': flag(),
  'control-timeout': number({ above: 0, what: 'a number of seconds > 0' }),
  ...DECISION_OPTIONS,
} as const;

/**
 * The token `--connect` sends (docs/security.md): `--token`, else none when the
 * URL carries `?token=`, else the environment's FDR_MONITOR_TOKEN (what a
 * trainer serving WebSocket reads too).
 */
function connectToken(url: string, flagToken: string | undefined, env: NodeJS.ProcessEnv): string | undefined {
  let inUrl: boolean;
  try {
    inUrl = new URL(url).searchParams.has('token');
  } catch {
    throw new UsageError(`--connect: '${url}' is not a valid URL`);
  }
  if (flagToken !== undefined && inUrl) throw new UsageError('give the token once: in the URL (?token=…) or with --token');
  if (flagToken !== undefined) return flagToken;
  if (inUrl) return undefined;
  return env[TOKEN_ENV] || undefined;
}

export function parseWatchArgs(argv: string[], env: NodeJS.ProcessEnv = process.env): WatchArgs | 'help' {
  const { help, values: v, positionals, afterDashes: command } = parseCommandLine(argv, WATCH_OPTIONS);
  if (help) return 'help';
  if (positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}' (a command for --run goes after --)`);
  const { tail, connect, listen, host, cwd } = v;
  const tokenFlags = [v.token !== undefined, v['token-file'] !== undefined, v['no-token'] === true].filter(Boolean).length;
  if (tokenFlags > 1) throw new UsageError('--token, --token-file and --no-token exclude each other');
  if ((v['token-file'] !== undefined || v['no-token']) && connect === undefined && listen === undefined)
    throw new UsageError('--token-file and --no-token go with --connect or --listen');
  if (v['no-token'] && listen === undefined) throw new UsageError('--no-token only goes with --listen');
  const explicitToken = v.token ?? (v['token-file'] !== undefined ? readTokenFile(v['token-file']) : undefined);
  let token = explicitToken;
  if (token === undefined && !v['no-token'] && listen !== undefined && env[TOKEN_ENV]) token = env[TOKEN_ENV];
  const tokenGenerated = listen !== undefined && token === undefined && !v['no-token'];
  if (tokenGenerated) token = newListenToken();
  const runCmd = v.run === true;
  if (connect !== undefined && !/^wss?:\/\//.test(connect)) throw new UsageError(`--connect needs a ws:// or wss:// URL, got '${connect}'`);
  const chosen = [tail !== undefined, connect !== undefined, listen !== undefined, runCmd].filter(Boolean).length;
  if (chosen !== 1) throw new UsageError('choose exactly one source: --tail FILE, --connect URL, --listen PORT or --run -- CMD…');
  if (runCmd && (!command || command.length === 0)) throw new UsageError('--run needs a command after --, e.g. --run -- python train.py');
  if (!runCmd && command) throw new UsageError("'--' (a command) only goes with --run");
  if (v['exit-after-runs'] !== undefined && listen === undefined) throw new UsageError('--exit-after-runs only goes with --listen');
  if (v['from-end'] && tail === undefined) throw new UsageError('--from-end only goes with --tail');
  if (host !== undefined && listen === undefined) throw new UsageError('--host only goes with --listen');
  if (cwd !== undefined && !runCmd) throw new UsageError('--cwd only goes with --run');
  if (v.token !== undefined && connect === undefined && listen === undefined)
    throw new UsageError('--token goes with --connect or --listen');
  const timeoutMs = v['control-timeout'] === undefined ? undefined : 1000 * v['control-timeout'];
  let spec: SourceSpec;
  if (tail !== undefined) spec = { kind: 'tail', path: tail, from: v['from-end'] ? 'end' : 'start', controlTimeoutMs: timeoutMs };
  else if (connect !== undefined)
    spec = { kind: 'websocket-client', url: connect, token: connectToken(connect, explicitToken, env), controlTimeoutMs: timeoutMs };
  else if (listen !== undefined)
    spec = { kind: 'websocket-server', port: listen, host, token, maxConnections: MAX_WATCHED_RUNS, controlTimeoutMs: timeoutMs };
  else spec = { kind: 'process', command: command![0], args: command!.slice(1), cwd, controlTimeoutMs: timeoutMs };
  return {
    spec,
    tokenGenerated,
    json: v.json === true,
    autoApply: v['auto-apply'] === true,
    exitAfterRuns: v['exit-after-runs'],
    options: decisionOptions(v),
  };
}

/** The token in file `f`: its first line, trimmed. */
function readTokenFile(f: string): string {
  let text: string;
  try {
    text = readFileSync(f, 'utf8');
  } catch (e) {
    throw new UsageError(`--token-file: cannot read ${f}: ${(e as Error).message}`);
  }
  const t = text.split(/\r?\n/)[0].trim();
  if (!t) throw new UsageError(`--token-file: ${f} has no token on its first line`);
  return t;
}

/** Per-run analysis state. */
interface Watched {
  run: Run;
  analyzer: Analyzer;
  appliedSegments: Set<number>;
  lastStep: number | null;
  lr: number | null;
}

export async function run(argv: string[]): Promise<number> {
  let args: WatchArgs | 'help';
  try {
    args = parseWatchArgs(argv);
  } catch (e) {
    return usageFailure('watch', e, WATCH_USAGE);
  }
  if (args === 'help') {
    console.log(WATCH_USAGE);
    return 0;
  }
  try {
    new Analyzer(args.options); // the constructor validates the options
  } catch (e) {
    console.error(`fdr-monitor watch: ${(e as Error).message}`);
    return 2;
  }
  return new Watcher(args).run();
}

class Watcher {
  private readonly source: Source;
  private readonly watched = new Map<Run, Watched>();
  private readonly multi: boolean;
  private readonly tty = Boolean(process.stderr.isTTY);
  private statusShown = false;
  private done!: (code: number) => void;
  private finished = false;
  private exitGrace: NodeJS.Timeout | undefined;
  /** Runs whose summary was printed when they ended (listener). */
  private summarised = 0;

  constructor(private readonly args: WatchArgs) {
    this.source = createSource(args.spec);
    this.multi = args.spec.kind === 'websocket-server';
  }

  async run(): Promise<number> {
    const result = new Promise<number>((r) => (this.done = r));
    const src = this.source;
    src.on('run', (r) => this.watch(r));
    src.on('record', (rec, { run }) => this.onRecord(rec, run));
    src.on('state', (s) => {
      const who = s.run && this.multi ? `${s.run.label}: ` : '';
      this.notice(`${who}${s.state}${s.reason ? ` (${s.reason})` : ''}`);
      if (!s.run && s.state === 'live' && src instanceof WebSocketServerSource) {
        this.notice(
          `trainers connect to ${src.connectUrl}${this.args.tokenGenerated ? ' (a fresh token: --token, --token-file or FDR_MONITOR_TOKEN choose one)' : ''}`,
        );
        if (!(this.args.spec as { token?: string }).token && !isLoopback(src.host)) {
          this.notice(
            `warning: listening on ${src.host} without a token: anyone who can reach this port can send records and receive control requests`,
          );
        }
      }
      // A listener's run that is over: print its summary now and let its analyzer go.
      if (this.multi && s.run && (s.state === 'ended' || s.state === 'failed')) this.release(s.run);
      this.checkEnd();
    });
    src.on('log', (line) => this.notice(src.kind === 'process' ? `trainer: ${line}` : line));
    src.on('error', (err) => this.notice(`error: ${err.message}`));
    src.on('request', (req, r) => {
      const who = this.multi ? `${r.label}: ` : '';
      const what = req.command === 'set_lr' ? `set lr ${req.lr}` : 'stop';
      this.notice(`${who}${what} [${req.id}] ${req.state}${req.reason ? `: ${req.reason}` : ''}`);
    });
    const onSignal = (sig: NodeJS.Signals) => {
      if (this.finished) {
        // A second signal while ending: leave now.
        this.notice(`${sig} again: exiting`);
        process.exit(128 + (signalNumber(sig) ?? 0));
      }
      this.notice(`${sig}: ending`);
      void this.finish(0);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const ticker = this.tty ? setInterval(() => this.drawStatus(), 250) : undefined;
    try {
      await src.start();
      this.checkEnd();
      return await result;
    } finally {
      if (ticker) clearInterval(ticker);
      process.removeListener('SIGINT', onSignal);
      process.removeListener('SIGTERM', onSignal);
    }
  }

  private watch(run: Run): void {
    if (this.multi && this.watched.size >= MAX_WATCHED_RUNS) {
      this.notice(`${run.id} (${run.label}) not analysed: ${MAX_WATCHED_RUNS} runs are being analysed already`);
      return;
    }
    const w: Watched = { run, analyzer: undefined as unknown as Analyzer, appliedSegments: new Set(), lastStep: null, lr: null };
    w.analyzer = new Analyzer(this.args.options, { onDecision: (d) => this.onDecision(w, d) });
    this.watched.set(run, w);
    if (this.multi) this.notice(`new run ${run.id}: ${run.label}`);
  }

  private onRecord(rec: StreamRecord, run: Run): void {
    const w = this.watched.get(run);
    if (!w) return;
    w.analyzer.push(rec);
    if (rec.type === 'step') {
      w.lastStep = rec.step;
      w.lr = rec.lr;
    }
  }

  private onDecision(w: Watched, d: Decision): void {
    if (this.args.json) {
      this.out(JSON.stringify(this.multi ? { ...d, run: w.run.id } : d));
    } else {
      const eps = d.epsilon === null ? '' : `, ε = ${fmt(d.epsilon)}${d.ci ? ` [${fmt(d.ci[0])}, ${fmt(d.ci[1])}]` : ''}`;
      const sugg = d.suggested_lr !== null ? ` → η ${fmt(d.suggested_lr)}` : '';
      const who = this.multi ? `${w.run.id} ` : '';
      this.out(`${who}step ${d.step} η ${fmt(d.lr)}: ${d.action}${sugg}${eps}${d.reason ? ` (${d.reason})` : ''}`);
    }
    if (this.args.autoApply && d.action === 'drop_lr' && d.suggested_lr !== null && !w.appliedSegments.has(d.segment)) {
      w.appliedSegments.add(d.segment);
      const ctl = w.run.control;
      if (!ctl) {
        this.notice(`cannot apply the drop to η ${fmt(d.suggested_lr)}: ${w.run.controlUnavailable ?? 'no control channel'}`);
        return;
      }
      void ctl.setLr(d.suggested_lr);
    }
  }

  /** Ends when the source cannot deliver any more (see the file comment). */
  private checkEnd(): void {
    const s = this.source;
    if (this.finished) return;
    if (s.kind === 'websocket-server') {
      if (s.state === 'failed') return void this.finish(1);
      const n = this.args.exitAfterRuns;
      const over = s.runs.filter((r) => r.state === 'ended' || r.state === 'failed').length;
      if (n !== undefined && over >= n) void this.finish(0);
      return;
    }
    if (s.kind === 'process') {
      const p = s as ProcessSource;
      if (s.state === 'failed') {
        const code = p.exitCode ?? (p.signal ? 128 + (signalNumber(p.signal) ?? 0) : 1);
        return void this.finish(code === 0 ? 1 : code);
      }
      if (s.state === 'ended' && p.exitCode !== null) return void this.finish(0);
      if (s.state === 'ended' && !this.exitGrace) {
        // `finished` arrived: give the trainer a few seconds to exit on its own, then stop it.
        this.exitGrace = setTimeout(() => {
          this.notice('the trainer sent "finished" but has not exited after 5 s; stopping it');
          void this.finish(0);
        }, 5000);
      }
      return;
    }
    if (s.state === 'failed') return void this.finish(1);
    // Tail and WebSocket client: the trainer's `finished` event ends the watch.
    if (s.state === 'ended') return void this.finish(0);
  }

  /** Prints a run's summary and forgets its analysis (a listener's run that ended). */
  private release(run: Run): void {
    const w = this.watched.get(run);
    if (!w) return;
    this.watched.delete(run);
    this.summarised++;
    this.printSummary(w);
  }

  private printSummary(w: Watched): void {
    const summary = w.analyzer.summary(w.run.skipped);
    if (this.args.json) this.out(JSON.stringify(this.multi ? { ...summary, run: w.run.id } : summary));
    else this.out((this.multi ? `== ${w.run.id}: ${w.run.label}\n` : '') + formatHuman(summary).trimEnd());
  }

  private async finish(code: number): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.exitGrace);
    // Never hang on the way out: a source that cannot let go within 5 s is left behind.
    let timer: NodeJS.Timeout | undefined;
    const stuck = new Promise<boolean>(
      (r) => (timer = setTimeout(() => (this.notice('the source did not close within 5 s; ending anyway'), r(false)), 5000)),
    );
    const closed = await Promise.race([this.source.dispose().then(() => true), stuck]);
    clearTimeout(timer);
    this.clearStatus();
    const runs = [...this.watched.values()];
    for (const w of runs) this.printSummary(w);
    if (runs.length === 0 && this.summarised === 0 && !this.args.json) this.out('no run was seen');
    if (runs.length === 0 && this.summarised === 0 && this.args.json)
      this.out(JSON.stringify(new Analyzer(this.args.options).summary({ count: 0, examples: [] })));
    await new Promise<void>((r) => process.stdout.write('', () => r()));
    this.done(code);
    // What the source could not close would keep the process alive: the output is out, so leave.
    if (!closed) setImmediate(() => process.exit(code));
  }

  // ------------------------------------------------------------- output

  private out(line: string): void {
    this.clearStatus();
    process.stdout.write(line + '\n');
  }

  private notice(line: string): void {
    this.clearStatus();
    process.stderr.write(`fdr-monitor watch: ${line}\n`);
  }

  private clearStatus(): void {
    if (this.statusShown) {
      process.stderr.write('\r\x1b[K');
      this.statusShown = false;
    }
  }

  private drawStatus(): void {
    if (this.finished) return;
    const parts: string[] = [];
    const list = [...this.watched.values()];
    const shown = list.slice(-3); // a listening server with many runs shows the newest few
    for (const w of shown) parts.push(statusOf(w, this.multi));
    if (list.length === 0) parts.push(`${this.source.state}${this.source.stateReason ? ` (${this.source.stateReason})` : ''}`);
    const width = process.stderr.columns || 120;
    let line = parts.join(' | ');
    if (line.length > width - 1) line = line.slice(0, width - 2) + '…';
    process.stderr.write('\r\x1b[K' + line);
    this.statusShown = true;
  }
}

/** One run's status: step, lr, ε ± CI, advice, forecast, skipped lines. */
function statusOf(w: Watched, withId: boolean): string {
  const { decision, evaluation } = w.analyzer.latest();
  const s: string[] = [];
  if (withId) s.push(w.run.id);
  s.push(w.run.state);
  s.push(`step ${w.lastStep ?? '—'}`);
  s.push(`η ${w.lr === null ? '—' : fmt(w.lr)}`);
  const e = evaluation;
  if (e && e.epsilon !== null) {
    const half = e.ci ? (e.ci[1] - e.ci[0]) / 2 : null;
    s.push(`ε ${fmt(e.epsilon)}${half !== null ? ` ± ${fmt(half)}` : ''}`);
  } else s.push('ε —');
  if (decision) {
    s.push(decision.action === 'drop_lr' && decision.suggested_lr !== null ? `DROP → η ${fmt(decision.suggested_lr)}` : decision.action);
  }
  const eta = e?.eta_steps ?? decision?.eta_steps ?? null;
  if (eta !== null && decision?.action === 'wait') s.push(`~${eta} steps to go`);
  const sk = w.run.skipped.count;
  if (sk) s.push(`${sk} skipped`);
  return s.join(' · ');
}

function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  const a = Math.abs(x);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? x.toExponential(2) : String(Number(x.toPrecision(3)));
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\./.test(host);
}

function signalNumber(sig: NodeJS.Signals): number | undefined {
  return osConstants.signals[sig];
}

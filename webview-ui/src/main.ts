/**
 * The FDR panel (webview). Charts share one step axis (zoom with the wheel,
 * pan by dragging, double-click to follow the whole run again); a status card
 * and a suggestion card. Data arrives as append-only `update` messages
 * (src/shared/messages.ts) into typed-array stores; each frame
 * decimates only the visible range to the chart's pixel width (min/max per
 * column, so spikes survive), so a million-step run costs a few ms per frame.
 */
import {
  Chart,
  LineController,
  ScatterController,
  LineElement,
  PointElement,
  LinearScale,
  LogarithmicScale,
  Filler,
  Tooltip,
  Legend,
  type ChartDataset,
  type Plugin,
} from 'chart.js';
import zoomPlugin from 'chartjs-plugin-zoom';
import { parseHostMessage, formatLr, formatPercent, type Columns, type HostToWebview, type WebviewToHost, type Marker } from '../../src/shared/messages';
import { PanelModel, SmoothedStore, SeriesStore } from './store';

Chart.register(LineController, ScatterController, LineElement, PointElement, LinearScale, LogarithmicScale, Filler, Tooltip, Legend, zoomPlugin);

interface VsCodeApi {
  postMessage(m: WebviewToHost): void;
  getState(): unknown;
  setState(s: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
const post = (m: WebviewToHost): void => vscode.postMessage(m);

let model = PanelModel.fromState(vscode.getState());

// ---------- theme ----------

interface Theme {
  fg: string;
  muted: string;
  grid: string;
  bg: string;
  blue: string;
  red: string;
  green: string;
  yellow: string;
  orange: string;
  purple: string;
}

function readTheme(): Theme {
  const cs = getComputedStyle(document.body);
  const v = (name: string, fallback: string): string => cs.getPropertyValue(name).trim() || fallback;
  return {
    fg: v('--vscode-foreground', '#cccccc'),
    muted: v('--vscode-descriptionForeground', '#999999'),
    grid: v('--vscode-editorWidget-border', '#80808040'),
    bg: v('--vscode-editor-background', '#1e1e1e'),
    blue: v('--vscode-charts-blue', '#3794ff'),
    red: v('--vscode-charts-red', '#f14c4c'),
    green: v('--vscode-charts-green', '#89d185'),
    yellow: v('--vscode-charts-yellow', '#cca700'),
    orange: v('--vscode-charts-orange', '#d18616'),
    purple: v('--vscode-charts-purple', '#b180d7'),
  };
}

/** The colour with alpha a, for bands (theme colours are hex). */
function alpha(color: string, a: number): string {
  const m = /^#([0-9a-f]{6})([0-9a-f]{2})?$/i.exec(color.trim());
  if (!m) return color;
  const n = parseInt(m[1], 16);
  return `rgba(${(n >> 16) & 255}, ${(n >> 8) & 255}, ${n & 255}, ${a})`;
}

let theme = readTheme();

// ---------- DOM ----------

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === 'class') e.className = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c);
  return e;
}

const app = document.getElementById('app') ?? document.body.appendChild(el('div', { id: 'app' }));

const empty = el('div', { id: 'empty', class: 'card' }, el('p', {}, 'No run yet.'), el('button', { id: 'start-button' }, 'Start FDR monitor…'));
const statusCard = el('section', { id: 'status-card', class: 'card' });
const suggestionCard = el('section', { id: 'suggestion-card', class: 'card hidden' });
const toolbar = el('div', { id: 'toolbar' });
const chartsBox = el('div', { id: 'charts' });
app.append(el('div', { id: 'cards' }, empty, statusCard, suggestionCard), toolbar, chartsBox);

(empty.querySelector('#start-button') as HTMLButtonElement).addEventListener('click', () => post({ type: 'start' }));

// Toolbar: loss scale, smoothing, follow, export.
const logBox = el('input', { type: 'checkbox', id: 'log-loss' });
const smoothRange = el('input', { type: 'range', id: 'smoothing', min: '0', max: '0.99', step: '0.01' });
const smoothLabel = el('span', { id: 'smoothing-value' });
const followButton = el('button', { id: 'follow', title: 'Show the whole run and follow new steps (or double-click a chart)' }, 'Follow run');
const exportButton = el('button', { id: 'export', title: 'Export records, analysis and charts' }, 'Export…');
toolbar.append(
  el('label', {}, logBox, ' log loss'),
  el('label', {}, ' smoothing ', smoothRange, smoothLabel),
  followButton,
  exportButton,
);
logBox.checked = model.prefs.logLoss;
smoothRange.value = String(model.prefs.smoothing);
smoothLabel.textContent = model.prefs.smoothing.toFixed(2);
logBox.addEventListener('change', () => {
  model.prefs.logLoss = logBox.checked;
  lossChart.chart.options.scales!.y!.type = logBox.checked ? 'logarithmic' : 'linear';
  saveStateSoon();
  scheduleRender();
});
smoothRange.addEventListener('input', () => {
  model.prefs.smoothing = Number(smoothRange.value);
  smoothLabel.textContent = model.prefs.smoothing.toFixed(2);
  for (const s of smoothed) s.setWeight(model.prefs.smoothing);
  saveStateSoon();
  scheduleRender();
});
followButton.addEventListener('click', () => setView(null));
exportButton.addEventListener('click', () => post({ type: 'export' }));

// ---------- charts ----------

type XY = { x: number; y: number | null };
const toXY = (c: Columns): XY[] => {
  const out: XY[] = new Array(c.xs.length);
  for (let i = 0; i < c.xs.length; i++) out[i] = { x: c.xs[i], y: c.ys[i] };
  return out;
};

interface Bound {
  /** Where the dataset's points come from (a store decimated to the view), or a function of the view. */
  store?: () => SeriesStore;
  compute?: (x0: number, x1: number) => XY[];
  ds: ChartDataset<'line' | 'scatter', XY[]>;
}

interface StepChart {
  name: string;
  box: HTMLDivElement;
  chart: Chart;
  bound: Bound[];
  /** Hidden until one of these stores has data. */
  showWhen?: () => boolean;
  /** Adjusts scales after data is set (e.g. the ε y-range). */
  afterData?: () => void;
}

/** Vertical lines at suggested (dashed) and applied (solid) drops, on every step chart. */
const markerLines: Plugin = {
  id: 'fdrMarkers',
  afterDatasetsDraw(chart) {
    const x = chart.scales.x;
    const area = chart.chartArea;
    if (!x || !area) return;
    const ctx = chart.ctx;
    ctx.save();
    for (const m of model.markers) {
      const px = x.getPixelForValue(m.step);
      if (px < area.left || px > area.right) continue;
      ctx.strokeStyle = m.kind === 'applied' ? theme.green : theme.orange;
      ctx.setLineDash(m.kind === 'applied' ? [] : [4, 3]);
      ctx.lineWidth = 1;
      ctx.beginPath();
      ctx.moveTo(px, area.top);
      ctx.lineTo(px, area.bottom);
      ctx.stroke();
    }
    ctx.restore();
  },
};

const stepCharts: StepChart[] = [];

function line(label: string, color: string, extra: Partial<ChartDataset<'line', XY[]>> = {}): ChartDataset<'line', XY[]> {
  return {
    type: 'line',
    label,
    data: [],
    borderColor: color,
    backgroundColor: color,
    borderWidth: 1.25,
    pointRadius: 0,
    spanGaps: false,
    ...extra,
  } as ChartDataset<'line', XY[]>;
}

function makeStepChart(name: string, title: string, datasets: Bound[], yType: 'linear' | 'logarithmic' = 'linear', y2 = false): StepChart {
  const canvas = el('canvas', { 'aria-label': title, role: 'img' });
  const box = el('div', { class: 'chart', id: `chart-${name}`, 'data-points': '0' }, el('h3', {}, title), el('div', { class: 'canvas-box' }, canvas));
  chartsBox.append(box);
  const chart = new Chart(canvas, {
    type: 'line',
    data: { datasets: datasets.map((b) => b.ds) as ChartDataset<'line', XY[]>[] },
    options: {
      parsing: false,
      normalized: true,
      animation: false,
      responsive: true,
      maintainAspectRatio: false,
      interaction: { mode: 'nearest', axis: 'x', intersect: false },
      scales: {
        x: { type: 'linear', ticks: { color: theme.muted, maxTicksLimit: 8 }, grid: { color: theme.grid } },
        y: { type: yType, ticks: { color: theme.muted, maxTicksLimit: 6 }, grid: { color: theme.grid } },
        ...(y2 ? { y2: { type: 'linear', position: 'right', ticks: { color: theme.muted, maxTicksLimit: 6 }, grid: { display: false } } } : {}),
      },
      plugins: {
        legend: { labels: { color: theme.fg, boxWidth: 12, filter: (item) => !String(item.text).startsWith('_') } },
        tooltip: { enabled: true, filter: (item) => !String(item.dataset.label ?? '').startsWith('_') },
        zoom: {
          zoom: { wheel: { enabled: true }, pinch: { enabled: true }, mode: 'x', onZoomComplete: ({ chart: c }) => setView([c.scales.x.min, c.scales.x.max]) },
          pan: { enabled: true, mode: 'x', onPanComplete: ({ chart: c }) => setView([c.scales.x.min, c.scales.x.max]) },
        },
      },
    },
    plugins: [markerLines],
  });
  canvas.addEventListener('dblclick', () => setView(null));
  const sc: StepChart = { name, box, chart, bound: datasets };
  stepCharts.push(sc);
  return sc;
}

const S = (k: Parameters<typeof storeOf>[0]) => () => storeOf(k);
function storeOf(k: keyof PanelModel['stores']): SeriesStore {
  return model.stores[k];
}

// Smoothed copies (display only) of the noisy per-step series.
const lossSmooth = new SmoothedStore(model.stores.loss, model.prefs.smoothing);
const olSmooth = new SmoothedStore(model.stores.ol, model.prefs.smoothing);
const orSmooth = new SmoothedStore(model.stores.or, model.prefs.smoothing);
let smoothed = [lossSmooth, olSmooth, orSmooth];

function rebindSmoothed(): void {
  // The model object is replaced on restore; smoothed stores follow it.
  const mk = (k: 'loss' | 'ol' | 'or') => new SmoothedStore(model.stores[k], model.prefs.smoothing);
  smoothed = [mk('loss'), mk('ol'), mk('or')];
  lossChart.bound[1].store = () => smoothed[0].out;
  olChart.bound[1].store = () => smoothed[1].out;
  olChart.bound[3].store = () => smoothed[2].out;
}

const lossChart = makeStepChart(
  'loss',
  'Minibatch loss',
  [
    { store: S('loss'), ds: line('loss', alpha(theme.blue, 0.22), { borderWidth: 1 }) },
    { store: () => lossSmooth.out, ds: line('loss (smoothed)', theme.blue, { borderWidth: 2 }) },
  ],
  model.prefs.logLoss ? 'logarithmic' : 'linear',
);

const olChart = makeStepChart('olor', 'OL = θ·g and OR = (η/2)(1+μ)/(1−δ)|buf|²', [
  { store: S('ol'), ds: line('_OL raw', alpha(theme.purple, 0.25)) },
  { store: () => olSmooth.out, ds: line('OL', theme.purple, { borderWidth: 1.75 }) },
  { store: S('or'), ds: line('_OR raw', alpha(theme.yellow, 0.25)) },
  { store: () => orSmooth.out, ds: line('OR', theme.yellow, { borderWidth: 1.75 }) },
]);

const tolBand = (sign: 1 | -1) => (x0: number, x1: number): XY[] => {
  const X = model.status?.tolerance ?? 0.01;
  return [
    { x: x0, y: sign * X },
    { x: x1, y: sign * X },
  ];
};

const epsChart = makeStepChart('eps', 'Deviation ε = 1 − ⟨OL⟩/⟨OR⟩', [
  { compute: tolBand(-1), ds: line('_−X', alpha(theme.green, 0.6), { borderDash: [2, 2] }) },
  { compute: tolBand(1), ds: line('±X tolerance', alpha(theme.green, 0.6), { borderDash: [2, 2], fill: '-1', backgroundColor: alpha(theme.green, 0.12) }) },
  { store: S('epsLo'), ds: line('_ci lo', 'transparent') },
  { store: S('epsHi'), ds: line('confidence band', 'transparent', { fill: '-1', backgroundColor: alpha(theme.blue, 0.22) }) },
  { store: S('eps'), ds: line('ε (trend)', theme.blue, { borderWidth: 1.75 }) },
  { store: S('classic'), ds: line('ε classic (half-running)', theme.muted, { borderDash: [5, 3] }) },
]);
epsChart.afterData = () => {
  // Fit the y-range to the newer half of the view so the ±X band stays
  // readable after an early transient with |ε| ≫ X.
  const X = model.status?.tolerance ?? 0.01;
  let a = 3 * X;
  const x = epsChart.chart.options.scales!.x!;
  const mid = ((x.min as number) + (x.max as number)) / 2;
  for (const b of epsChart.bound.slice(2)) {
    for (const p of b.ds.data) if (p.x >= mid && p.y !== null && Math.abs(p.y) < 10) a = Math.max(a, 1.15 * Math.abs(p.y));
  }
  epsChart.chart.options.scales!.y!.min = -a;
  epsChart.chart.options.scales!.y!.max = a;
};

const markerPoints = (kind: Marker['kind']) => (x0: number, x1: number): XY[] =>
  model.markers.filter((m) => m.kind === kind && m.step >= x0 && m.step <= x1).map((m) => ({ x: m.step, y: m.lr }));

const lrChart = makeStepChart(
  'lr',
  'Learning rate η',
  [
    {
      // Change points, extended to the newest step.
      compute: (x0, x1) => {
        const s = model.stores.lr;
        const pts = toXY(s.visible(x0, x1, 4096));
        const last = model.lastStep;
        if (s.length && last !== null && last > (s.lastX as number)) pts.push({ x: last, y: s.lastY });
        return pts;
      },
      ds: line('η', theme.fg, { stepped: true, borderWidth: 1.75 }),
    },
    { compute: markerPoints('suggested'), ds: { type: 'scatter', label: 'suggested', data: [], pointStyle: 'triangle', pointRadius: 6, borderColor: theme.orange, backgroundColor: theme.orange } },
    { compute: markerPoints('applied'), ds: { type: 'scatter', label: 'applied', data: [], pointStyle: 'circle', pointRadius: 5, borderColor: theme.green, backgroundColor: theme.green } },
  ],
  'logarithmic',
);

const fdr2Chart = makeStepChart(
  'fdr2',
  'FDR2: anharmonicity A and Hessian scale',
  [
    { store: S('anhLo'), ds: line('_A lo', 'transparent') },
    { store: S('anhHi'), ds: line('A band', 'transparent', { fill: '-1', backgroundColor: alpha(theme.red, 0.2) }) },
    { store: S('anh'), ds: line('anharmonicity A', theme.red, { borderWidth: 1.75 }) },
    { store: S('hess'), ds: line('Hessian scale (right)', theme.orange, { yAxisID: 'y2' }) },
  ],
  'linear',
  true,
);
fdr2Chart.showWhen = () => model.stores.anh.length > 0 || model.stores.hess.length > 0;

// ⟨|∇f|²⟩ per plateau against η: linear through the origin means harmonic (docs/math.md §6).
const plateauCanvas = el('canvas', { 'aria-label': 'gradient norm per plateau', role: 'img' });
const plateauBox = el('div', { class: 'chart hidden', id: 'chart-plateaus' }, el('h3', {}, 'Stationary ⟨|∇f|²⟩ per plateau vs η'), el('div', { class: 'canvas-box' }, plateauCanvas));
chartsBox.append(plateauBox);
const plateauChart = new Chart(plateauCanvas, {
  type: 'scatter',
  data: {
    datasets: [
      { type: 'scatter', label: '⟨|∇f|²⟩', data: [] as XY[], pointRadius: 5, borderColor: theme.blue, backgroundColor: theme.blue },
      { type: 'line', label: 'linear through origin', data: [] as XY[], pointRadius: 0, borderColor: theme.muted, borderDash: [4, 3], borderWidth: 1 },
    ],
  },
  options: {
    animation: false,
    responsive: true,
    maintainAspectRatio: false,
    scales: {
      x: { type: 'linear', title: { display: true, text: 'η', color: theme.muted }, ticks: { color: theme.muted }, grid: { color: theme.grid } },
      y: { type: 'linear', beginAtZero: true, ticks: { color: theme.muted }, grid: { color: theme.grid } },
    },
    plugins: { legend: { labels: { color: theme.fg, boxWidth: 12 } } },
  },
});

// ---------- view (shared step axis) ----------

function currentRange(): [number, number] | null {
  if (model.prefs.view) return model.prefs.view;
  const a = model.firstStep;
  const b = model.lastStep;
  if (a === null || b === null) return null;
  return [a, b > a ? b : a + 1];
}

function setView(v: [number, number] | null): void {
  model.prefs.view = v && Number.isFinite(v[0]) && Number.isFinite(v[1]) && v[1] > v[0] ? v : null;
  followButton.classList.toggle('active', model.prefs.view === null);
  saveStateSoon();
  scheduleRender();
}

// ---------- cards ----------

const fmt = (x: number | null | undefined, digits = 3): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Number(x.toPrecision(digits)).toString());
const fmtInt = (x: number | null | undefined): string => (x === null || x === undefined || !Number.isFinite(x) ? '—' : Math.round(x).toLocaleString('en-US'));
function fmtDuration(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '—';
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

const STATE_TEXT: Record<string, string> = {
  idle: 'idle',
  no_data: 'waiting for data',
  equilibrating: 'equilibrating',
  stationary: 'stationary',
  diverging: 'diverging',
  finished: 'finished',
};

/** Cards are rebuilt only when what they show changed (a rebuilt button cannot be clicked mid-update). */
let statusKey = '';
let suggestionKey = '';

function renderStatus(): void {
  const s = model.status;
  empty.classList.toggle('hidden', model.run !== null);
  statusCard.classList.toggle('hidden', !s);
  if (!s) return;
  const key = JSON.stringify([s, model.run?.title]);
  if (key === statusKey) return;
  statusKey = key;
  const rows: [string, string, string?][] = [
    ['State', STATE_TEXT[s.state] ?? s.state, 'status-state'],
    ['Step', `${fmtInt(s.step)}${s.stepsPerSecond ? ` (${fmt(s.stepsPerSecond, 3)} steps/s)` : ''}`, 'status-step'],
    ['η', s.lr === null ? '—' : formatLr(s.lr), 'status-lr'],
    ['ε', s.epsilon === null ? '—' : `${fmt(s.epsilon)}${s.ci ? ` [${fmt(s.ci[0])}, ${fmt(s.ci[1])}] (${formatPercent(s.confidence)})` : ''}; classic ${fmt(s.classicEpsilon)}`, 'status-eps'],
    ['Forecast', s.state === 'equilibrating' ? (s.etaSteps === null ? 'unknown' : `${fmtInt(s.etaSteps)} steps ≈ ${fmtDuration(s.etaSeconds)}`) : '—', 'status-forecast'],
    ['τ, ESS', `${fmt(s.tau)} steps, ${fmtInt(s.ess)}`, 'status-tau'],
    ['Source', `${s.source} — ${s.connection}${s.connectionReason ? ` (${s.connectionReason})` : ''}`, 'status-source'],
    ['Backend', s.backend ?? '—', 'status-backend'],
    ['Records', `${fmtInt(s.records)}; skipped ${fmtInt(s.skipped)}`, 'status-skipped'],
  ];
  statusCard.replaceChildren(
    el('h2', {}, model.run?.title ?? 'FDR monitor'),
    el('div', { class: `state-badge state-${s.state}`, id: 'state-badge' }, STATE_TEXT[s.state] ?? s.state),
    el('dl', {}, ...rows.flatMap(([k, v, id]) => [el('dt', {}, k), el('dd', id ? { id } : {}, v)])),
  );
  if (s.skipReasons.length) statusCard.append(el('details', {}, el('summary', {}, 'Skipped lines'), el('ul', { id: 'skip-reasons' }, ...s.skipReasons.map((r) => el('li', {}, r)))));
  if (s.warnings.length) statusCard.append(el('ul', { class: 'warnings', id: 'warnings' }, ...s.warnings.map((w) => el('li', {}, w))));
}

function renderSuggestion(): void {
  const s = model.suggestion;
  const a = model.apply;
  const st = model.status;
  const show = s !== null || a !== null;
  suggestionCard.classList.toggle('hidden', !show);
  if (!show) return;
  const key = JSON.stringify([s, a, st?.controlBlocked, st?.autoApply]);
  if (key === suggestionKey) return;
  suggestionKey = key;
  const parts: Node[] = [];
  if (s) {
    parts.push(el('p', { id: 'suggestion-text', class: `suggestion ${s.action}` }, s.text));
    if (s.ci) parts.push(el('p', { class: 'evidence' }, `ε = ${fmt(s.epsilon)}, ${formatPercent(s.confidence)} interval [${fmt(s.ci[0])}, ${fmt(s.ci[1])}] against ±${formatPercent(s.tolerance)}`));
    const applyBtn = el('button', { id: 'apply-button' }, `Apply η = ${formatLr(s.suggestedLr)}`);
    const dismissBtn = el('button', { id: 'dismiss-button', class: 'secondary' }, 'Dismiss');
    const pending = a?.phase === 'pending' && a.suggestionId === s.id;
    if (st?.controlBlocked || pending) applyBtn.setAttribute('disabled', '');
    if (st?.controlBlocked) applyBtn.title = st.controlBlocked;
    applyBtn.addEventListener('click', () => {
      applyBtn.setAttribute('disabled', '');
      post({ type: 'apply', suggestionId: s.id });
    });
    dismissBtn.addEventListener('click', () => {
      post({ type: 'dismiss', suggestionId: s.id });
      model.suggestion = null;
      suggestionKey = '';
      renderSuggestion();
    });
    parts.push(el('div', { class: 'buttons' }, applyBtn, dismissBtn));
    if (st?.controlBlocked) parts.push(el('p', { class: 'blocked', id: 'control-blocked' }, st.controlBlocked));
  }
  if (a) {
    const text =
      a.phase === 'pending'
        ? `Pending: asked the trainer for η = ${formatLr(a.lr)} (request ${a.request})…`
        : a.phase === 'acknowledged'
          ? `Acknowledged: η = ${formatLr(a.lr)} from step ${fmtInt(a.ackStep)}`
          : `Failed: ${a.reason ?? 'unknown reason'}`;
    parts.push(el('p', { id: 'apply-state', class: `apply ${a.phase}`, 'data-phase': a.phase }, text));
  }
  const auto = el('input', { type: 'checkbox', id: 'auto-apply' });
  auto.checked = st?.autoApply ?? false;
  auto.addEventListener('change', () => post({ type: 'setAutoApply', value: auto.checked }));
  parts.push(el('label', { class: 'auto' }, auto, ' apply suggestions automatically'));
  suggestionCard.replaceChildren(el('h2', {}, 'Suggestion'), ...parts);
}

// ---------- rendering ----------

let renderQueued = false;
let pendingSeq: number | null = null;
/** Oldest record time (Unix s) among updates not drawn yet; gives record-written → drawn latency. */
let pendingOldest: number | null = null;
/** Latencies (ms) from a record's `time` to the frame that drew it; read by the bench and UI test. */
const latencies: number[] = [];
/** Time (ms) spent in each render. */
const renderTimes: number[] = [];

/** When the last render finished, and how long it took (ms). */
let lastRenderEnd = 0;
let lastRenderMs = 0;

/**
 * Renders on the next animation frame, but leaves the main thread at least
 * as much idle time as the last render took: on a slow or busy machine the
 * panel draws less often instead of falling behind the updates (which are
 * applied to the stores as they arrive, so nothing is lost).
 */
function scheduleRender(): void {
  if (renderQueued) return;
  renderQueued = true;
  const wait = Math.max(0, lastRenderEnd + lastRenderMs - performance.now());
  // A timer, not requestAnimationFrame: chart.js draws synchronously in
  // update(), and rAF is throttled in hidden panels and in cross-origin
  // frames the user has not interacted with (the webview is one).
  setTimeout(renderNow, Math.max(wait, 16));
}

/** Decimates the visible range of every store into its chart and redraws. Returns ms spent. */
function renderNow(): number {
  renderQueued = false;
  const t0 = performance.now();
  for (const s of smoothed) s.sync();
  renderStatus();
  renderSuggestion();
  const range = currentRange();
  let drawn = 0;
  for (const sc of stepCharts) {
    const visible = sc.showWhen ? sc.showWhen() : true;
    sc.box.classList.toggle('hidden', !visible);
    if (!visible || !range) continue;
    const [x0, x1] = range;
    const px = Math.max(64, Math.floor(sc.chart.chartArea ? sc.chart.chartArea.right - sc.chart.chartArea.left : sc.chart.width));
    let n = 0;
    for (const b of sc.bound) {
      b.ds.data = b.store ? toXY(b.store().visible(x0, x1, px)) : b.compute!(x0, x1);
      n += b.ds.data.length;
    }
    sc.chart.options.scales!.x!.min = x0;
    sc.chart.options.scales!.x!.max = x1;
    sc.afterData?.();
    sc.chart.update('none');
    sc.box.dataset.points = String(n);
    drawn += n;
  }
  const lrStore = model.stores.lr;
  lrChart.box.dataset.lastLr = lrStore.length ? String(lrStore.lastY) : '';
  lrChart.box.dataset.changes = String(lrStore.length);
  renderPlateaus();
  const ms = performance.now() - t0;
  lastRenderEnd = performance.now();
  lastRenderMs = ms;
  renderTimes.push(ms);
  if (renderTimes.length > 5000) renderTimes.shift();
  if (pendingOldest !== null) {
    latencies.push(Date.now() - pendingOldest * 1000);
    if (latencies.length > 5000) latencies.shift();
    pendingOldest = null;
  }
  document.body.dataset.points = String(model.points);
  // For UI tests and the bench, which cannot evaluate script here (the CSP has no 'unsafe-eval').
  document.body.dataset.latencies = latencies.slice(-300).join(',');
  document.body.dataset.renderMs = renderTimes.slice(-300).map((t) => t.toFixed(1)).join(',');
  document.body.dataset.arrivals = arrivals.join(',');
  document.body.dataset.handleMs = handleMs.map((t) => t.toFixed(2)).join(',');
  if (pendingSeq !== null) {
    post({ type: 'rendered', seq: pendingSeq, points: drawn, ms });
    pendingSeq = null;
  }
  return ms;
}

function renderPlateaus(): void {
  const rows = model.plateaus;
  plateauBox.classList.toggle('hidden', rows.length < 2);
  if (rows.length < 2) return;
  const pts = rows.map((r) => ({ x: r.lr, y: r.gradNormSq }));
  // Least-squares slope through the origin: Σηg/Ση² (display of the harmonic expectation).
  const slope = rows.reduce((a, r) => a + r.lr * r.gradNormSq, 0) / rows.reduce((a, r) => a + r.lr * r.lr, 0);
  const xMax = Math.max(...rows.map((r) => r.lr));
  plateauChart.data.datasets[0].data = pts;
  plateauChart.data.datasets[1].data = [
    { x: 0, y: 0 },
    { x: xMax, y: slope * xMax },
  ];
  plateauChart.update('none');
}

// ---------- persistence ----------

let saveTimer: ReturnType<typeof setTimeout> | null = null;
function saveStateSoon(): void {
  if (saveTimer) return;
  saveTimer = setTimeout(() => {
    saveTimer = null;
    vscode.setState(model.toState());
  }, 5000);
}
document.addEventListener('visibilitychange', () => {
  if (document.hidden) vscode.setState(model.toState());
});

// ---------- messages ----------

function composeImage(): string {
  const visible = [...stepCharts.filter((c) => !c.box.classList.contains('hidden')).map((c) => c.chart), ...(plateauBox.classList.contains('hidden') ? [] : [plateauChart])];
  const w = Math.max(1, ...visible.map((c) => c.canvas.width));
  const h = visible.reduce((a, c) => a + c.canvas.height, 0) || 1;
  const out = document.createElement('canvas');
  out.width = w;
  out.height = h;
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = theme.bg;
  ctx.fillRect(0, 0, w, h);
  let y = 0;
  for (const c of visible) {
    ctx.drawImage(c.canvas, 0, y);
    y += c.canvas.height;
  }
  return out.toDataURL('image/png');
}

/** A snapshot has been asked for (the `ready` at start counts) and not yet received. */
let awaitingReset = true;
let resetAskedAt = Date.now();

const arrivals: number[] = [];
const handleMs: number[] = [];

export function handleMessage(data: unknown): void {
  const tHandle = performance.now();
  const parsed = parseHostMessage(data);
  if (!parsed.ok) {
    post({ type: 'log', level: 'error', message: `panel ignored a message: ${parsed.reason}` });
    post({ type: 'resync' });
    return;
  }
  const m: HostToWebview = parsed.message;
  if (m.type === 'requestImage') {
    post({ type: 'image', requestId: m.requestId, dataUrl: composeImage() });
    return;
  }
  const before = model.lastSeq;
  const r = model.applyUpdate(m);
  if (r === 'gap') {
    // One resync at a time: deltas already in flight would otherwise each ask for another snapshot.
    if (!awaitingReset || Date.now() - resetAskedAt > 3000) {
      awaitingReset = true;
      resetAskedAt = Date.now();
      post({ type: 'log', level: 'info', message: `update ${m.seq} after ${before}: gap, asking for a resync` });
      post({ type: 'resync' });
    }
    return;
  }
  if (m.reset) awaitingReset = false;
  if (r === 'stale') {
    post({ type: 'log', level: 'info', message: `update ${m.seq} after ${before}: stale, ignored` });
    return;
  }
  if (m.reset) rebindSmoothed();
  pendingSeq = m.seq;
  if (m.oldestTime !== undefined && (pendingOldest === null || m.oldestTime < pendingOldest)) pendingOldest = m.oldestTime;
  if (m.oldestTime !== undefined) {
    // Delivery delay alone (record → message here), to tell transport from drawing.
    arrivals.push(Date.now() - m.oldestTime * 1000);
    if (arrivals.length > 300) arrivals.shift();
  }
  handleMs.push(performance.now() - tHandle);
  if (handleMs.length > 300) handleMs.shift();
  saveStateSoon();
  scheduleRender();
}

window.addEventListener('message', (e: MessageEvent) => handleMessage(e.data));

// Theme switches change the body class; re-read the colours then.
new MutationObserver(() => {
  theme = readTheme();
  for (const sc of [...stepCharts.map((c) => c.chart), plateauChart]) {
    for (const ax of Object.values(sc.options.scales ?? {})) {
      if (!ax) continue;
      if (ax.ticks) ax.ticks.color = theme.muted;
      if (ax.grid) ax.grid.color = theme.grid;
    }
    if (sc.options.plugins?.legend?.labels) sc.options.plugins.legend.labels.color = theme.fg;
  }
  scheduleRender();
}).observe(document.body, { attributes: true, attributeFilter: ['class'] });

window.addEventListener('error', (e) => post({ type: 'log', level: 'error', message: `panel error: ${e.message}` }));

/** Hooks for the Chromium benchmark and UI tests (read-only use). */
(window as unknown as { __fdrPanel: unknown }).__fdrPanel = {
  get model() {
    return model;
  },
  handleMessage,
  renderNow,
  latencies,
  renderTimes,
};

rebindSmoothed();
setView(model.prefs.view);
renderNow();
post({ type: 'ready', lastSeq: model.lastSeq, runId: model.run?.id ?? null });

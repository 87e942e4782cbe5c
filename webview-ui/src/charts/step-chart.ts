/**
 * A chart against the step axis: chart.js set up for typed-array stores
 * (no parsing, no animation), x-zoom and pan that set the shared view,
 * double-click to follow the run, and the drop markers.
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
import type { Columns } from '../../../src/shared/messages';
import type { PanelContext } from '../context';
import type { SeriesStore } from '../store';
import { drawnRange, pointsOnAxis, type XAxis } from '../x-axis';

Chart.register(
  LineController,
  ScatterController,
  LineElement,
  PointElement,
  LinearScale,
  LogarithmicScale,
  Filler,
  Tooltip,
  Legend,
  zoomPlugin,
);

export type XY = { x: number; y: number | null };

export const toXY = (c: Columns): XY[] => {
  const out: XY[] = new Array(c.xs.length);
  for (let i = 0; i < c.xs.length; i++) out[i] = { x: c.xs[i], y: c.ys[i] };
  return out;
};

export interface Bound {
  /** Where the dataset's points come from (a store decimated to the view), or a function of the view. */
  store?: () => SeriesStore;
  compute?: (x0: number, x1: number) => XY[];
  ds: ChartDataset<'line' | 'scatter', XY[]>;
}

export interface StepChart {
  name: string;
  box: HTMLDivElement;
  chart: Chart;
  bound: Bound[];
  /** Hidden until one of these stores has data. */
  showWhen?: () => boolean;
  /** Adjusts scales after data is set (e.g. the ε y-range). */
  afterData?: () => void;
}

/** Where step charts go and what they share. */
export interface ChartEnv {
  ctx: PanelContext;
  /** The #charts container. */
  box: HTMLElement;
  /** Zoom, pan and double-click set the shared step view (null = follow the run). */
  setView(v: [number, number] | null): void;
  /** Drawn on every step chart (markerLines). */
  markers: Plugin;
  /** The x axis now (step, wall-clock or relative time; log or linear). */
  axis(): XAxis;
}

/** Vertical lines at suggested (dashed) and applied (solid) drops, on every step chart. */
export function markerLines(ctx: PanelContext, axis: () => XAxis): Plugin {
  return {
    id: 'fdrMarkers',
    afterDatasetsDraw(chart) {
      const x = chart.scales.x;
      const area = chart.chartArea;
      if (!x || !area) return;
      const c = chart.ctx;
      const theme = ctx.theme;
      c.save();
      for (const m of ctx.model.markers) {
        const px = x.getPixelForValue(axis().toX(m.step));
        if (px < area.left || px > area.right) continue;
        c.strokeStyle = m.kind === 'applied' ? theme.green : theme.orange;
        c.setLineDash(m.kind === 'applied' ? [] : [4, 3]);
        c.lineWidth = 1;
        c.beginPath();
        c.moveTo(px, area.top);
        c.lineTo(px, area.bottom);
        c.stroke();
      }
      c.restore();
    },
  };
}

export function line(label: string, color: string, extra: Partial<ChartDataset<'line', XY[]>> = {}): ChartDataset<'line', XY[]> {
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

/** Creates the chart #chart-<name> (with data-points) at the end of the charts container. */
export function makeStepChart(
  env: ChartEnv,
  name: string,
  title: string,
  datasets: Bound[],
  yType: 'linear' | 'logarithmic' = 'linear',
  y2 = false,
): StepChart {
  const { el, theme } = env.ctx;
  const canvas = el('canvas', { 'aria-label': title, role: 'img' });
  const box = el(
    'div',
    { class: 'chart', id: `chart-${name}`, 'data-points': '0' },
    el('h3', {}, title),
    el('div', { class: 'canvas-box' }, canvas),
  );
  env.box.append(box);
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
        x: {
          type: 'linear',
          ticks: { color: theme.muted, maxTicksLimit: 8, callback: (v) => env.axis().label(Number(v)) },
          grid: { color: theme.grid },
        },
        y: { type: yType, ticks: { color: theme.muted, maxTicksLimit: 6 }, grid: { color: theme.grid } },
        ...(y2
          ? { y2: { type: 'linear', position: 'right', ticks: { color: theme.muted, maxTicksLimit: 6 }, grid: { display: false } } }
          : {}),
      },
      plugins: {
        legend: { labels: { color: theme.fg, boxWidth: 12, filter: (item) => !String(item.text).startsWith('_') } },
        tooltip: { enabled: true, filter: (item) => !String(item.dataset.label ?? '').startsWith('_') },
        zoom: {
          zoom: {
            wheel: { enabled: true },
            pinch: { enabled: true },
            mode: 'x',
            onZoomComplete: ({ chart: c }) => env.setView(stepsOf(env.axis(), c)),
          },
          pan: { enabled: true, mode: 'x', onPanComplete: ({ chart: c }) => env.setView(stepsOf(env.axis(), c)) },
        },
      },
    },
    plugins: [env.markers],
  });
  canvas.addEventListener('dblclick', () => env.setView(null));
  return { name, box, chart, bound: datasets };
}

/** The step range a zoomed or panned chart shows. */
function stepsOf(axis: XAxis, c: Chart): [number, number] {
  return [axis.toStep(c.scales.x.min), axis.toStep(c.scales.x.max)];
}

/** Fills the chart with the range [x0, x1] decimated to its pixel width, or hides it. Returns the points drawn. */
export function drawStepChart(sc: StepChart, range: [number, number] | null, axis: XAxis): number {
  const visible = sc.showWhen ? sc.showWhen() : true;
  sc.box.classList.toggle('hidden', !visible);
  if (!visible || !range) return 0;
  const [x0, x1] = range;
  const px = Math.max(64, Math.floor(sc.chart.chartArea ? sc.chart.chartArea.right - sc.chart.chartArea.left : sc.chart.width));
  let n = 0;
  for (const b of sc.bound) {
    if (b.store) b.ds.data = pointsOnAxis(b.store(), x0, x1, px, axis);
    else {
      b.ds.data = b.compute!(x0, x1);
      if (axis.mode !== 'step') for (const p of b.ds.data) p.x = axis.toX(p.x);
    }
    n += b.ds.data.length;
  }
  const [a, b] = drawnRange(axis, range);
  const xs = sc.chart.options.scales!.x!;
  const type = axis.log ? 'logarithmic' : 'linear';
  if (xs.type !== type) xs.type = type;
  xs.min = a;
  xs.max = b;
  sc.afterData?.();
  sc.chart.update('none');
  sc.box.dataset.points = String(n);
  return n;
}

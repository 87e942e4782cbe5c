/** ⟨|∇f|²⟩ per plateau against η: linear through the origin means harmonic (docs/math.md §6). */
import { Chart } from 'chart.js';
import type { XY, ChartEnv } from './step-chart';

export class PlateauChart {
  readonly box: HTMLDivElement;
  readonly chart: Chart;

  constructor(private readonly env: ChartEnv) {
    const { el, theme } = env.ctx;
    const canvas = el('canvas', { 'aria-label': 'gradient norm per plateau', role: 'img' });
    this.box = el(
      'div',
      { class: 'chart hidden', id: 'chart-plateaus' },
      el('h3', {}, 'Stationary ⟨|∇f|²⟩ per plateau vs η'),
      el('div', { class: 'canvas-box' }, canvas),
    );
    env.box.append(this.box);
    this.chart = new Chart(canvas, {
      type: 'scatter',
      data: {
        datasets: [
          { type: 'scatter', label: '⟨|∇f|²⟩', data: [] as XY[], pointRadius: 5, borderColor: theme.blue, backgroundColor: theme.blue },
          {
            type: 'line',
            label: 'linear through origin',
            data: [] as XY[],
            pointRadius: 0,
            borderColor: theme.muted,
            borderDash: [4, 3],
            borderWidth: 1,
          },
        ],
      },
      options: {
        animation: false,
        responsive: true,
        maintainAspectRatio: false,
        scales: {
          x: {
            type: 'linear',
            title: { display: true, text: 'η', color: theme.muted },
            ticks: { color: theme.muted },
            grid: { color: theme.grid },
          },
          y: { type: 'linear', beginAtZero: true, ticks: { color: theme.muted }, grid: { color: theme.grid } },
        },
        plugins: { legend: { labels: { color: theme.fg, boxWidth: 12 } } },
      },
    });
  }

  /** Shown from two plateaus on. */
  render(): void {
    const rows = this.env.ctx.model.plateaus;
    this.box.classList.toggle('hidden', rows.length < 2);
    if (rows.length < 2) return;
    const pts = rows.map((r) => ({ x: r.lr, y: r.gradNormSq }));
    // Least-squares slope through the origin: Σηg/Ση² (display of the harmonic expectation).
    const slope = rows.reduce((a, r) => a + r.lr * r.gradNormSq, 0) / rows.reduce((a, r) => a + r.lr * r.lr, 0);
    const xMax = Math.max(...rows.map((r) => r.lr));
    this.chart.data.datasets[0].data = pts;
    this.chart.data.datasets[1].data = [
      { x: 0, y: 0 },
      { x: xMax, y: slope * xMax },
    ];
    this.chart.update('none');
  }
}

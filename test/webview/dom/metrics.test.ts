/**
 * The user's own metrics in the panel (a DOM, no chart.js): the picker lists
 * every metric the run logs with its latest value; ticking one plans a chart
 * of it (each its own, or all on one shared axis) with exactly the values
 * logged at their steps; the x axis switches to wall-clock or relative time
 * through the run's time series; the choices survive a reload; and a stalled
 * source is shown on the status card with how long.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cols, delta, FakeVsCodeApi, snapshot, status, type TestPanel, withPanel } from './harness';

/** Validation loss every 100 steps (at 99, 199, …), accuracy likewise, gradient norm every step. */
const METRICS = {
  val_loss: { xs: [99, 199, 299, 399, 499], ys: [1.5, 1.2, 1.0, 0.9, 0.85] },
  val_acc: { xs: [99, 199, 299, 399, 499], ys: [0.6, 0.7, 0.75, null, 0.8] },
  grad_norm: cols(0, 500, (x) => 1 + x / 1000),
};
const T0 = 1_700_000_000;
/** Ten steps per second of wall-clock time, one time point per second. */
const TIME = cols(0, 50, (i) => T0 + i);
TIME.xs = TIME.xs.map((i) => i * 10);

function check(p: TestPanel, name: string, on: boolean): void {
  const box = p.doc.querySelector<HTMLInputElement>(`#metric-list input[data-metric="${name}"]`);
  assert.ok(box, `no checkbox for ${name}`);
  box.checked = on;
  box.dispatchEvent(new p.win.Event('change') as unknown as Event);
}

const planned = (p: TestPanel): string[][] => JSON.parse(p.doc.body.dataset.metricCharts ?? 'null');

test("the picker lists the run's metrics; ticking one draws exactly its logged points at their steps", () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { series: { loss: cols(0, 500, () => 1), lr: { xs: [0], ys: [0.1] } }, metrics: METRICS }));
    await p.nextFrame();
    assert.equal(p.byId('metrics').classList.contains('hidden'), false);
    const names = [...p.doc.querySelectorAll('#metric-list input')].map((e) => e.getAttribute('data-metric'));
    assert.deepEqual(names, ['val_loss', 'val_acc', 'grad_norm']);
    assert.equal(p.text('metric-value-0'), '0.85 @ 499 (5 pts)');
    assert.deepEqual(planned(p), [], 'nothing charted until the user picks');
    assert.deepEqual(p.panel.metricCharts(), []);

    check(p, 'val_loss', true);
    await p.nextFrame();
    assert.deepEqual(planned(p), [['val_loss']]);
    const [chart] = p.panel.metricCharts();
    assert.equal(chart.id, 'chart-metric-0');
    assert.deepEqual(chart.points.val_loss, [
      { x: 99, y: 1.5 },
      { x: 199, y: 1.2 },
      { x: 299, y: 1.0 },
      { x: 399, y: 0.9 },
      { x: 499, y: 0.85 },
    ]);

    // Later evaluations arrive as deltas and are drawn on the same chart.
    p.send(delta(2, { metrics: { val_loss: { xs: [599], ys: [0.8] } }, series: { loss: cols(500, 600, () => 1) } }));
    await p.nextFrame();
    assert.deepEqual(p.panel.metricCharts()[0].points.val_loss.at(-1), { x: 599, y: 0.8 });
    assert.equal(p.text('metric-value-0'), '0.8 @ 599 (6 pts)');

    // A second metric: its own chart, in the order picked; a gap stays a gap.
    check(p, 'val_acc', true);
    await p.nextFrame();
    assert.deepEqual(planned(p), [['val_loss'], ['val_acc']]);
    assert.deepEqual(
      p.panel.metricCharts()[1].points.val_acc.map((q) => q.y),
      [0.6, 0.7, 0.75, null, 0.8],
    );

    // Shared axis: one chart with both.
    const shared = p.byId<HTMLInputElement>('metrics-shared');
    shared.checked = true;
    shared.dispatchEvent(new p.win.Event('change') as unknown as Event);
    await p.nextFrame();
    assert.deepEqual(planned(p), [['val_loss', 'val_acc']]);
    assert.equal(p.panel.metricCharts()[0].id, 'chart-metrics-shared');

    check(p, 'val_loss', false);
    await p.nextFrame();
    assert.deepEqual(planned(p), [['val_acc']]);
  }));

test('the picked metrics and the axis survive a reload; a new run without them plans nothing', async () => {
  const vscode = new FakeVsCodeApi();
  await withPanel(async (p) => {
    p.send(snapshot(1, { metrics: METRICS }));
    await p.nextFrame();
    check(p, 'grad_norm', true);
    const axis = p.byId<HTMLSelectElement>('x-axis');
    axis.value = 'relative';
    axis.dispatchEvent(new p.win.Event('change') as unknown as Event);
    await p.nextFrame();
    p.hide();
  }, vscode);
  await withPanel(async (p) => {
    assert.equal(p.byId<HTMLSelectElement>('x-axis').value, 'relative');
    await p.nextFrame();
    assert.deepEqual(planned(p), [['grad_norm']], 'restored from the saved state before the host answers');
    assert.ok(p.panel.metricCharts()[0].points.grad_norm.length > 0);
    p.send(snapshot(5, { run: { id: 'run-2', title: 'other' }, metrics: { acc: { xs: [1], ys: [0.5] } } }));
    await p.nextFrame();
    assert.deepEqual(planned(p), []);
    assert.equal(p.panel.ctx.model.prefs.metricsShown.includes('grad_norm'), true, 'the choice is kept for a run that logs it again');
  }, vscode);
});

test("x axis: wall-clock and relative time map each step through the run's time series", () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { series: { loss: cols(0, 491, () => 1), lr: { xs: [0], ys: [0.1] }, time: TIME }, metrics: METRICS }));
    await p.nextFrame();
    check(p, 'val_loss', true);
    await p.nextFrame();
    assert.deepEqual(
      p.panel.metricCharts()[0].points.val_loss.map((q) => q.x),
      [99, 199, 299, 399, 499],
    );
    const axis = p.byId<HTMLSelectElement>('x-axis');
    axis.value = 'time';
    axis.dispatchEvent(new p.win.Event('change') as unknown as Event);
    await p.nextFrame();
    // 10 steps per second: step 99 is 9.9 s after T0; step 499 is past the last time point (490 → T0 + 49 s), held there.
    const xs = p.panel.metricCharts()[0].points.val_loss.map((q) => q.x);
    assert.deepEqual(
      xs.map((x) => Math.round((x - T0) * 1000) / 1000),
      [9.9, 19.9, 29.9, 39.9, 49],
    );
    axis.value = 'relative';
    axis.dispatchEvent(new p.win.Event('change') as unknown as Event);
    await p.nextFrame();
    const rel = p.panel.metricCharts()[0].points.val_loss.map((q) => Math.round(q.x * 1000) / 1000);
    assert.deepEqual(rel, [9.9, 19.9, 29.9, 39.9, 49]);
    assert.equal(p.panel.ctx.model.prefs.xAxis, 'relative');
    const logX = p.byId<HTMLInputElement>('log-x');
    logX.checked = true;
    logX.dispatchEvent(new p.win.Event('change') as unknown as Event);
    assert.equal(p.panel.ctx.model.prefs.logX, true);
  }));

test('more than 64 metric names: the panel keeps 64 and says how many were ignored', () =>
  withPanel(async (p) => {
    const many = Object.fromEntries(Array.from({ length: 64 }, (_, i) => [`m${i}`, { xs: [1], ys: [i] }]));
    p.send(snapshot(1, { metrics: many, status: status({ metricsIgnored: 7 }) }));
    await p.nextFrame();
    assert.equal(p.doc.querySelectorAll('#metric-list input').length, 64);
    assert.equal(p.text('metrics-ignored'), '7 more metric names were ignored: a run keeps at most 64.');
  }));

test('a stalled source shows on the status card with how long, and clears when records flow again', () =>
  withPanel(async (p) => {
    p.send(snapshot(1));
    await p.nextFrame();
    assert.equal(p.doc.getElementById('stall-badge'), null);
    p.send(delta(2, { status: status({ stalledFor: 42.4, stallAfter: 30 }) }));
    await p.nextFrame();
    assert.equal(p.text('stall-badge'), 'stalled: no record for 42 s');
    assert.match(p.byId('stall-badge').title, /stall time \(30 s\)/);
    p.send(delta(3, { status: status({ stalledFor: 150, stallAfter: 30 }) }));
    await p.nextFrame();
    assert.equal(p.text('stall-badge'), 'stalled: no record for 3 min');
    p.send(delta(4, { status: status({ stalledFor: null, stallAfter: 30 }) }));
    await p.nextFrame();
    assert.equal(p.doc.getElementById('stall-badge'), null);
  }));

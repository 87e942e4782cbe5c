/**
 * Several runs in the panel, in a DOM, driven by typed host messages as the
 * extension sends them: the run picker (a listener's trainers, new ones
 * appearing, switching, Stop naming the run on screen, actions carrying the
 * run they were taken on) and a recorded run beside the live one (its legend
 * entry, its own ε and suggestion history, its series held for the overlay,
 * Remove, and a reload that keeps it).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { cols, delta, FakeVsCodeApi, openPanel, snapshot, status, suggestion, type TestPanel, withPanel } from './harness';
import { parseHostMessage, type ComparisonRun, type RunEntry } from '../../../src/shared/messages';
import { currentRange } from '../../../webview-ui/src/step-axis';

function entry(n: number, over: Partial<RunEntry> = {}): RunEntry {
  return {
    id: `s1-${n}`,
    title: `run-${n} — nqm (127.0.0.1:${5000 + n})`,
    connection: 'live',
    records: 100 * n,
    selected: n === 1,
    canStop: true,
    ...over,
  };
}

const RUN_A = { id: 's1-1', title: entry(1).title };
const RUN_B = { id: 's1-2', title: entry(2).title };

function options(p: TestPanel): { value: string; text: string }[] {
  return [...p.byId<HTMLSelectElement>('run-picker').querySelectorAll('option')].map((o) => ({
    value: o.value,
    text: o.textContent ?? '',
  }));
}

test('no run list (a single-run source): no picker', () =>
  withPanel(async (p) => {
    p.send(snapshot(1));
    await p.nextFrame();
    assert.equal(p.byId('runs').classList.contains('hidden'), true);
  }));

test('the run picker lists the runs, the first selected; a new run appears; picking one posts selectRun', () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { run: RUN_A, runs: [entry(1), entry(2)] }));
    await p.nextFrame();
    assert.equal(p.byId('runs').classList.contains('hidden'), false);
    assert.deepEqual(
      options(p).map((o) => o.value),
      ['s1-1', 's1-2'],
    );
    assert.equal(options(p)[1].text, 'run-2 — nqm (127.0.0.1:5002) · live · 200 records');
    assert.equal(p.byId<HTMLSelectElement>('run-picker').value, 's1-1', 'the run on screen is the one picked');
    assert.equal(p.text('run-count'), '2 runs, 2 live');

    // A third trainer sends: the list grows, the panel keeps showing A.
    p.send(delta(2, { runs: [entry(1), entry(2), entry(3)] }));
    await p.nextFrame();
    assert.deepEqual(
      options(p).map((o) => o.value),
      ['s1-1', 's1-2', 's1-3'],
    );
    assert.equal(p.byId<HTMLSelectElement>('run-picker').value, 's1-1');

    const sel = p.byId<HTMLSelectElement>('run-picker');
    sel.value = 's1-3';
    sel.dispatchEvent(new p.win.Event('change') as unknown as Event);
    assert.deepEqual(p.vscode.sent('selectRun'), [{ type: 'selectRun', runId: 's1-3' }]);
  }));

test('actions name the run on screen: Apply, Dismiss, Export and Stop after switching to B', () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { run: RUN_A, runs: [entry(1), entry(2)], suggestion: suggestion({ id: 'a-sug' }) }));
    await p.nextFrame();
    // The host answers selectRun with B's snapshot (a reset).
    p.send(
      snapshot(2, {
        run: RUN_B,
        runs: [entry(1, { selected: false }), entry(2, { selected: true })],
        suggestion: suggestion({ id: 'b-sug', lr: 0.2, suggestedLr: 0.02 }),
      }),
    );
    await p.nextFrame();
    assert.equal(p.byId<HTMLSelectElement>('run-picker').value, 's1-2');
    assert.match(p.text('suggestion-text'), /η = 0\.2 .*drop to 0\.02/);
    p.byId<HTMLButtonElement>('apply-button').click();
    assert.deepEqual(p.vscode.sent('apply'), [{ type: 'apply', suggestionId: 'b-sug', runId: 's1-2' }]);
    p.byId<HTMLButtonElement>('export').click();
    assert.deepEqual(p.vscode.sent('export'), [{ type: 'export', runId: 's1-2' }]);
    p.byId<HTMLButtonElement>('stop-run').click();
    assert.deepEqual(p.vscode.sent('stop'), [{ type: 'stop', runId: 's1-2' }]);
    assert.equal(p.byId('stop-run').hasAttribute('disabled'), true, 'one stop per click');
  }));

test('Stop is off for a run that ended or has no control channel', () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { run: RUN_A, runs: [entry(1, { connection: 'ended', canStop: false }), entry(2)] }));
    await p.nextFrame();
    assert.equal(p.byId('stop-run').hasAttribute('disabled'), true);
    assert.equal(p.text('run-count'), '2 runs, 1 live');
  }));

/** A recorded run as the host sends it (recorded.ts). */
function recorded(over: Partial<ComparisonRun> = {}): ComparisonRun {
  return {
    id: 'recorded-1',
    title: 'earlier (stream.jsonl)',
    path: '/runs/stream.jsonl',
    records: 4000,
    skipped: 2,
    skipReasons: ['line 7: not JSON — "oops"'],
    state: 'stationary',
    lastStep: 3999,
    epsilon: 0.004,
    ci: [-0.002, 0.01],
    series: {
      loss: cols(0, 4000, (x) => 3 * Math.exp(-x / 500) + 0.2),
      eps: cols(100, 4000, (x) => 1 / (1 + x / 100)),
      lr: { xs: [0, 2500], ys: [0.1, 0.01] },
    },
    markers: [{ kind: 'suggested', step: 2400, lr: 0.01 }],
    suggestions: [
      suggestion({ id: 's0-drop_lr-0.01', step: 2400 }),
      suggestion({ id: 's1-drop_lr-0.001', step: 3800, lr: 0.01, suggestedLr: 0.001 }),
    ],
    ...over,
  };
}

test('a recorded run beside the live one: legend entry, its ε and suggestion history, its series for the overlay, Remove', () =>
  withPanel(async (p) => {
    p.send(snapshot(1));
    await p.nextFrame();
    assert.equal(p.byId('comparison-card').classList.contains('hidden'), true);
    p.byId<HTMLButtonElement>('open-recorded').click();
    assert.deepEqual(p.vscode.posted.at(-1), { type: 'openRecorded' });

    p.send({ type: 'comparison', comparison: recorded() });
    await p.nextFrame();
    assert.equal(p.byId('comparison-card').classList.contains('hidden'), false);
    assert.equal(p.text('comparison-legend'), 'earlier (stream.jsonl) (recorded)');
    const swatch = p.byId('comparison-legend').querySelector('.swatch') as HTMLElement;
    assert.equal(swatch.dataset.color, '#d670d6', "the overlay's own colour");
    assert.ok(swatch.style.background, 'the swatch is painted in it');
    assert.equal(p.text('comparison-summary'), '4,000 records to step 3,999, stationary; ε = 0.004 [-0.002, 0.01]; 2 lines skipped');
    const items = [...p.byId('comparison-suggestions').querySelectorAll('li')].map((li) => li.textContent ?? '');
    assert.equal(items.length, 2);
    assert.match(items[0], /^step 2,400: drop η 0\.1 → 0\.01/);
    assert.match(items[1], /^step 3,800: drop η 0\.01 → 0\.001/);
    const model = p.panel.ctx.model;
    assert.equal(model.comparisonStores.loss.length, 4000);
    assert.equal(model.comparisonStores.eps.lastX, 3999);
    assert.equal(model.stores.loss.length, 1234, "the live run's own series are untouched");
    assert.equal(model.suggestion, null, "the recorded run's suggestions are not the live run's");

    p.byId<HTMLButtonElement>('remove-comparison').click();
    assert.deepEqual(p.vscode.posted.at(-1), { type: 'removeComparison' });
    await p.nextFrame();
    assert.equal(p.byId('comparison-card').classList.contains('hidden'), true);
    assert.equal(model.comparisonStores.loss.length, 0);
  }));

test('without a live run the axis spans the recorded run; in time modes the card says the overlay is on the step axis', () =>
  withPanel(async (p) => {
    p.send({ type: 'comparison', comparison: recorded() });
    await p.nextFrame();
    assert.deepEqual(currentRange(p.panel.ctx.model), [0, 3999]);
    assert.equal(p.byId('empty').classList.contains('hidden'), true);
    const axis = p.byId<HTMLSelectElement>('x-axis');
    axis.value = 'time';
    axis.dispatchEvent(new p.win.Event('change') as unknown as Event);
    await p.nextFrame();
    assert.match(p.byId('comparison-card').textContent ?? '', /overlaid on the step axis only/);
  }));

test('the recorded run survives a reload (saved at once, restored from getState); a malformed one is refused', async () => {
  const first = openPanel();
  let saved: unknown;
  try {
    first.send(snapshot(1));
    first.send({ type: 'comparison', comparison: recorded() });
    await first.nextFrame();
    assert.ok(first.vscode.saves >= 1, 'saved when it arrived');
    saved = first.vscode.getState();
  } finally {
    await first.close();
  }
  await withPanel(async (p) => {
    assert.equal(p.text('comparison-legend'), 'earlier (stream.jsonl) (recorded)');
    assert.equal(p.panel.ctx.model.comparisonStores.loss.length, 4000);
    assert.equal(p.byId('comparison-suggestions').dataset.count, '2');
  }, new FakeVsCodeApi(saved));

  assert.equal(parseHostMessage({ type: 'comparison', comparison: { ...recorded(), series: { nope: { xs: [], ys: [] } } } }).ok, false);
  assert.equal(parseHostMessage({ type: 'comparison', comparison: { ...recorded(), suggestions: [{ id: 1 }] } }).ok, false);
  assert.equal(parseHostMessage({ type: 'update', seq: 1, runs: [{ id: 'x' }] }).ok, false);
  await withPanel(async (p) => {
    p.send(snapshot(1, { status: status() }));
    p.send({ type: 'comparison', comparison: { ...recorded(), records: 'many' } });
    await p.nextFrame();
    assert.equal(p.byId('comparison-card').classList.contains('hidden'), true);
    assert.deepEqual(p.vscode.sent('resync').length, 1, 'a malformed message asks for a resync, nothing is shown');
  });
});

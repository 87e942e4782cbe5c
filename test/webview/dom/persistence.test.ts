/**
 * The panel's state across a hide/reload (webview-ui/src/persistence.ts):
 * what one panel saves with setState when it is hidden, the next one restores
 * from getState before the host says anything — cards, prefs, what it holds —
 * and tells the host (`ready`) so only what is missing is sent. Bad saved
 * state gives a fresh panel.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { delta, FakeVsCodeApi, openPanel, RUN, snapshot, status, suggestion } from './harness';

test('a hidden panel saves its state; a new panel restores cards, prefs and data from getState', async () => {
  const first = openPanel();
  let saved: unknown;
  try {
    first.send(snapshot(1, { suggestion: suggestion(), status: status({ state: 'stationary' }) }));
    first.send(delta(2));
    await first.nextFrame();
    const logLoss = first.byId<HTMLInputElement>('log-loss');
    assert.equal(logLoss.checked, true, 'log loss is the default');
    logLoss.click();
    const smoothing = first.byId<HTMLInputElement>('smoothing');
    smoothing.value = '0.5';
    smoothing.dispatchEvent(new first.win.Event('input') as unknown as Event);
    assert.equal(first.text('smoothing-value'), '0.50');
    assert.equal(first.vscode.saves, 0, 'saved a few seconds after a change, not on every one');
    first.hide();
    assert.equal(first.vscode.saves, 1, 'saved at once when hidden');
    saved = first.vscode.getState();
  } finally {
    await first.close();
  }

  const second = openPanel(new FakeVsCodeApi(saved));
  try {
    assert.deepEqual(second.vscode.posted, [{ type: 'ready', lastSeq: 2, runId: RUN.id }], 'tells the host what it already holds');
    assert.equal(second.byId('empty').classList.contains('hidden'), true);
    assert.equal(second.text('status-state'), 'stationary');
    assert.equal(second.byId('status-card').querySelector('h2')?.textContent, RUN.title);
    assert.equal(second.text('suggestion-text'), suggestion().text);
    assert.equal(second.byId<HTMLInputElement>('log-loss').checked, false);
    assert.equal(second.byId<HTMLInputElement>('smoothing').value, '0.5');
    assert.equal(second.text('smoothing-value'), '0.50');
    const model = second.panel.ctx.model;
    assert.equal(model.lastSeq, 2);
    assert.equal(model.stores.loss.lastX, 1263, 'the series, decimated, up to its last step');
    // The restored suggestion is live: Apply names it.
    second.byId<HTMLButtonElement>('apply-button').click();
    assert.deepEqual(second.vscode.sent('apply'), [{ type: 'apply', suggestionId: suggestion().id, runId: 'run-1' }]);
    // The host carries on from the restored seq.
    second.send(delta(3, { status: status({ state: 'stationary', step: 1274 }) }));
    await second.nextFrame();
    assert.equal(second.text('status-step'), '1,274 (500 steps/s)');
    assert.deepEqual(second.vscode.sent('resync'), []);
  } finally {
    await second.close();
  }
});

test('saved state that is not the panel’s (old version, garbage) gives a fresh panel', async () => {
  for (const state of [
    { version: 2, lastSeq: 9, run: RUN },
    'not state',
    42,
    { version: 1, prefs: { smoothing: 7, logLoss: 'yes', view: [5, 1] }, lastSeq: 1.5, run: { id: 3 } },
  ]) {
    const p = openPanel(new FakeVsCodeApi(state));
    try {
      assert.deepEqual(p.vscode.posted, [{ type: 'ready', lastSeq: null, runId: null }], JSON.stringify(state));
      assert.equal(p.byId('empty').classList.contains('hidden'), false);
      assert.equal(p.byId<HTMLInputElement>('log-loss').checked, true);
      assert.equal(p.text('smoothing-value'), '0.90');
      assert.equal(p.panel.ctx.model.prefs.view, null);
    } finally {
      await p.close();
    }
  }
});

/**
 * The panel's cards in a DOM, driven by typed host messages the way the
 * extension sends them: what the status card says, and that the suggestion
 * card's buttons post the commands the host acts on (naming the suggestion
 * by id, never a learning rate).
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { delta, RUN, snapshot, status, suggestion, withPanel } from './harness';

test('before any run: "No run yet", no status card, and Start posts start', () =>
  withPanel(async (p) => {
    assert.equal(p.byId('empty').classList.contains('hidden'), false);
    assert.equal(p.byId('status-card').classList.contains('hidden'), true);
    assert.equal(p.byId('suggestion-card').classList.contains('hidden'), true);
    assert.deepEqual(p.vscode.posted, [{ type: 'ready', lastSeq: null, runId: null }]);
    p.byId<HTMLButtonElement>('start-button').click();
    assert.deepEqual(p.vscode.posted.at(-1), { type: 'start' });
  }));

test('the status card shows the status of the snapshot, formatted, and follows later updates', () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { status: status({ skipped: 2, skipReasons: ['line 7: not JSON'], warnings: ['loss is NaN at step 900'] }) }));
    await p.nextFrame();
    assert.equal(p.byId('empty').classList.contains('hidden'), true);
    assert.equal(p.byId('status-card').classList.contains('hidden'), false);
    assert.equal(p.byId('status-card').querySelector('h2')?.textContent, RUN.title);
    assert.equal(p.text('state-badge'), 'equilibrating');
    assert.ok(p.byId('state-badge').classList.contains('state-equilibrating'));
    assert.equal(p.text('status-state'), 'equilibrating');
    assert.equal(p.text('status-step'), '1,234 (500 steps/s)');
    assert.equal(p.text('status-lr'), '0.1');
    assert.equal(p.text('status-eps'), '0.0321 [0.011, 0.0532] (95%); classic 0.045');
    assert.equal(p.text('status-forecast'), '2,000 steps ≈ 4 min');
    assert.equal(p.text('status-tau'), '3.25 steps, 380');
    assert.equal(p.text('status-source'), 'NQM example (pid 4242) — live');
    assert.equal(p.text('status-backend'), 'float64');
    assert.equal(p.text('status-skipped'), '1,234; skipped 2');
    assert.equal(p.text('skip-reasons'), 'line 7: not JSON');
    assert.equal(p.text('warnings'), 'loss is NaN at step 900');

    p.send(
      delta(2, {
        status: status({ state: 'stationary', step: 5000, epsilon: null, connection: 'reconnecting', connectionReason: 'socket closed' }),
      }),
    );
    await p.nextFrame();
    assert.equal(p.text('status-state'), 'stationary');
    assert.equal(p.text('state-badge'), 'stationary');
    assert.equal(p.text('status-step'), '5,000 (500 steps/s)');
    assert.equal(p.text('status-eps'), '—');
    assert.equal(p.text('status-forecast'), '—', 'a forecast only while equilibrating');
    assert.equal(p.text('status-source'), 'NQM example (pid 4242) — reconnecting (socket closed)');
    assert.equal(p.doc.getElementById('warnings'), null, 'no warnings, no list');
  }));

test('the status card shows FDR2 (A with its interval, the Hessian scale) and what it means in words', () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { status: status() }));
    await p.nextFrame();
    assert.equal(p.doc.getElementById('status-fdr2'), null, 'no FDR2 fields yet, no row');
    const reading =
      'mildly anharmonic at this rate (A = 0.072, CI [0.053, 0.091]): the quadratic picture (Hessian scale, FDR2’s harmonic relation) holds to within about 9%';
    p.send(delta(2, { status: status({ fdr2: { anharmonicity: 0.072, ci: [0.053, 0.091], hessianScale: 0.863, reading } }) }));
    await p.nextFrame();
    assert.equal(p.text('status-fdr2'), 'anharmonicity 0.072 [0.053, 0.091] (95%); Hessian scale 0.863');
    assert.equal(p.text('status-fdr2-reading'), 'M' + reading.slice(1));
    p.send(delta(3, { status: status({ fdr2: { anharmonicity: null, ci: null, hessianScale: 2.5, reading: null } }) }));
    await p.nextFrame();
    assert.equal(p.text('status-fdr2'), 'anharmonicity —; Hessian scale 2.5');
    assert.equal(p.doc.getElementById('status-fdr2-reading'), null, 'no reading without an interval');
  }));

test('the suggestion card: its sentence and evidence, and Apply posts apply with the suggestion id', () =>
  withPanel(async (p) => {
    const s = suggestion();
    p.send(snapshot(1, { suggestion: s }));
    await p.nextFrame();
    assert.equal(p.byId('suggestion-card').classList.contains('hidden'), false);
    assert.equal(p.text('suggestion-text'), 'equilibrated within ±1% at η = 0.1 (95%): drop to 0.01');
    assert.ok(p.byId('suggestion-text').classList.contains('drop_lr'));
    assert.equal(p.byId('suggestion-card').querySelector('.evidence')?.textContent, 'ε = 0.004, 95% interval [-0.003, 0.009] against ±1%');
    const apply = p.byId<HTMLButtonElement>('apply-button');
    assert.equal(apply.textContent, 'Apply η = 0.01');
    assert.equal(apply.hasAttribute('disabled'), false);

    apply.click();
    assert.deepEqual(
      p.vscode.sent('apply'),
      [{ type: 'apply', suggestionId: 'seg-0:drop_lr', runId: 'run-1' }],
      'the run on screen is named',
    );
    assert.equal(apply.hasAttribute('disabled'), true, 'disabled at once: one click, one request');
    apply.click();
    assert.equal(p.vscode.sent('apply').length, 1, 'a disabled Apply posts nothing');

    p.send(delta(2, { apply: { suggestionId: s.id, request: 'req-7', lr: 0.01, phase: 'pending' } }));
    await p.nextFrame();
    assert.equal(p.byId('apply-state').dataset.phase, 'pending');
    assert.equal(p.text('apply-state'), 'Pending: asked the trainer for η = 0.01 (request req-7)…');
    assert.equal(p.byId('apply-button').hasAttribute('disabled'), true, 'still disabled while the request is pending');

    p.send(
      delta(3, {
        apply: { suggestionId: s.id, request: 'req-7', lr: 0.01, phase: 'acknowledged', ackStep: 5012 },
        markers: [{ kind: 'applied', step: 5012, lr: 0.01 }],
      }),
    );
    await p.nextFrame();
    assert.equal(p.byId('apply-state').dataset.phase, 'acknowledged');
    assert.equal(p.text('apply-state'), 'Acknowledged: η = 0.01 from step 5,012');

    p.send(
      delta(4, { apply: { suggestionId: s.id, request: 'req-8', lr: 0.01, phase: 'failed', reason: 'trainer has no control channel' } }),
    );
    await p.nextFrame();
    assert.equal(p.text('apply-state'), 'Failed: trainer has no control channel');
  }));

test('Dismiss posts dismiss with the suggestion id and hides the card', () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { suggestion: suggestion({ id: 'seg-3:diverging', action: 'diverging', lr: 0.5, suggestedLr: 0.05 }) }));
    await p.nextFrame();
    assert.equal(p.text('suggestion-text'), 'diverging at η = 0.5: drop to 0.05 now');
    p.byId<HTMLButtonElement>('dismiss-button').click();
    assert.deepEqual(p.vscode.sent('dismiss'), [{ type: 'dismiss', suggestionId: 'seg-3:diverging', runId: 'run-1' }]);
    assert.equal(p.byId('suggestion-card').classList.contains('hidden'), true);
    assert.equal(p.panel.ctx.model.suggestion, null);
  }));

test('when control is blocked, Apply is disabled and the card says why', () =>
  withPanel(async (p) => {
    const why = 'Restricted Mode: learning-rate changes are not sent to the trainer';
    p.send(snapshot(1, { suggestion: suggestion(), status: status({ controlBlocked: why }) }));
    await p.nextFrame();
    const apply = p.byId<HTMLButtonElement>('apply-button');
    assert.equal(apply.hasAttribute('disabled'), true);
    assert.equal(apply.title, why);
    assert.equal(p.text('control-blocked'), why);
    apply.click();
    assert.deepEqual(p.vscode.sent('apply'), []);
  }));

test('the auto-apply switch shows the setting and posts setAutoApply', () =>
  withPanel(async (p) => {
    p.send(snapshot(1, { suggestion: suggestion(), status: status({ autoApply: true }) }));
    await p.nextFrame();
    const auto = p.byId<HTMLInputElement>('auto-apply');
    assert.equal(auto.checked, true);
    auto.click();
    assert.deepEqual(p.vscode.sent('setAutoApply'), [{ type: 'setAutoApply', value: false }]);
  }));

test('the toolbar: Export posts export, Follow run follows the whole run again', () =>
  withPanel(async (p) => {
    p.send(snapshot(1));
    await p.nextFrame();
    p.byId<HTMLButtonElement>('export').click();
    assert.deepEqual(p.vscode.posted.at(-1), { type: 'export', runId: 'run-1' });
    assert.ok(p.byId('follow').classList.contains('active'));
    p.panel.ctx.model.prefs.view = [100, 200];
    p.byId<HTMLButtonElement>('follow').click();
    assert.equal(p.panel.ctx.model.prefs.view, null);
    assert.ok(p.byId('follow').classList.contains('active'));
  }));

/**
 * A real trainer process that stops sending (it stays alive, silent, as a
 * hung trainer or a stuck data loader does): the session's panel updates say
 * "stalled" after the configured stall time, with how long, and the
 * notification logic (alerts.ts) fires once per stall and once per
 * suggestion, for the kinds the user opted into. The same process's
 * validation metrics (an `eval` event every 10 steps) reach the panel at
 * their steps.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Alerts } from '../../src/extension/alerts';
import { Session } from '../../src/extension/session';
import type { PanelStatus, Suggestion, UpdateMessage } from '../../src/shared/messages';
import { testSessionOptions } from './session-options';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-stall-'));

/** 50 steps with a validation loss every 10, then silence until stdin closes. */
const TRAINER = `
for (let s = 0; s < 50; s++) {
  console.log(JSON.stringify({ step: s, lr: 0.1, loss: 1 / (s + 1), grad_norm: 2 + s }));
  if (s % 10 === 9) console.log(JSON.stringify({ type: 'event', event: 'eval', step: s, val_loss: 1 - s / 100 }));
}
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
`;

test(
  'a trainer that stops sending is shown stalled after the stall time; its eval metrics arrived at their steps',
  { timeout: 60_000 },
  async () => {
    const s = new Session(
      { kind: 'script', command: process.execPath, args: ['-e', TRAINER], cwd: ROOT, title: 'silent trainer' },
      testSessionOptions(tmp, { stallSeconds: 1 }),
    );
    const updates: UpdateMessage[] = [];
    s.subscribe((u) => updates.push(u));
    try {
      await s.start();
      const deadline = Date.now() + 30_000;
      let stalled: PanelStatus | undefined;
      while (!stalled && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 100));
        stalled = updates.map((u) => u.status).find((st) => st && st.stalledFor !== null && st.stalledFor !== undefined);
      }
      assert.ok(stalled, 'no "stalled" status within 30 s');
      assert.equal(stalled.stallAfter, 1);
      assert.ok(stalled.stalledFor! > 1, String(stalled.stalledFor));
      assert.equal(stalled.connection, 'live');
      assert.equal(stalled.step, 49);
      const val: [number, number | null][] = [];
      for (const u of updates)
        if (u.metrics?.val_loss) val.push(...u.metrics.val_loss.xs.map((x, i): [number, number | null] => [x, u.metrics!.val_loss.ys[i]]));
      assert.deepEqual(
        val,
        [9, 19, 29, 39, 49].map((x) => [x, 1 - x / 100]),
      );
      assert.deepEqual(s.feed.metricNames, ['grad_norm', 'val_loss']);
      assert.deepEqual(s.snapshot().metrics!.val_loss.xs, [9, 19, 29, 39, 49]);
    } finally {
      await s.dispose();
    }
    const last = updates.at(-1)!.status!;
    assert.equal(last.connection, 'ended');
    assert.equal(last.stalledFor, null, 'an ended source is not stalled');
  },
);

test('alerts: a stall notifies once until records flow; suggestions once per id, only while the panel is hidden, only the kinds opted into', () => {
  let kinds: ('suggestion' | 'diverging' | 'stall')[] = ['suggestion', 'diverging'];
  const a = new Alerts(() => kinds);
  const st = (stalledFor: number | null): PanelStatus => ({ source: 'trainer (pid 7)', stalledFor, stallAfter: 30 }) as PanelStatus;
  assert.deepEqual(a.observe(st(45), undefined, false), [], 'stall not opted into');
  kinds = ['stall'];
  assert.deepEqual(a.observe(st(46), undefined, false), [], 'the same stall does not notify when the setting changes midway');
  a.observe(st(null), undefined, false);
  const [stall] = a.observe(st(31), undefined, true);
  assert.equal(stall.kind, 'stall');
  assert.equal(
    stall.text,
    'FDR: trainer (pid 7) has sent no record for 31 s (stall time 30 s): is the trainer hung, its data loader stuck, or the connection dead?',
  );
  assert.deepEqual(a.observe(st(32), undefined, true), []);
  kinds = ['suggestion', 'diverging', 'stall'];
  const sug = { id: 's0-drop_lr-0.01', action: 'drop_lr', text: 'equilibrated: drop to 0.01' } as Suggestion;
  assert.deepEqual(a.observe(undefined, sug, true), [], 'the panel shows it');
  assert.deepEqual(a.observe(undefined, { ...sug, id: 's1-drop_lr-0.001' }, false), [
    { kind: 'suggestion', text: 'FDR: equilibrated: drop to 0.01', suggestionId: 's1-drop_lr-0.001' },
  ]);
  assert.deepEqual(a.observe(undefined, { ...sug, id: 's1-drop_lr-0.001' }, false), [], 'once per suggestion');
  kinds = ['suggestion'];
  assert.deepEqual(a.observe(undefined, { ...sug, id: 's2-diverging-0.01', action: 'diverging' }, false), [], 'divergence not opted into');
});

/**
 * The user's own metrics (docs/protocol.md, "Your own metrics"): numeric
 * fields the protocol does not define are kept on step records and on
 * events (an `eval` event's test loss and accuracy), at the record's step;
 * the protocol's own fields, non-numeric values, over-long names and the
 * protocol's own events are not metrics.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_METRIC_NAME, parseLine, StreamParser, type StreamRecord } from '../../src/core/protocol';

test('a step record keeps its unknown numeric fields as metrics, and only those', () => {
  const r = parseLine(
    JSON.stringify({
      step: 40,
      lr: 0.1,
      loss: 0.5,
      buf_sq: 2,
      val_loss: 0.61,
      accuracy: 0.875,
      grad_norm: 'inf',
      throughput: 1200,
      phase: 'train',
      ok: true,
      nested: { a: 1 },
      center: 0,
    }),
  );
  assert.ok(r.ok && r.record.type === 'step');
  if (!r.ok || r.record.type !== 'step') return;
  assert.deepEqual(r.record.metrics, { val_loss: 0.61, accuracy: 0.875, grad_norm: Infinity, throughput: 1200 });
  assert.equal(r.record.loss, 0.5, 'protocol fields stay where they were');
  const pathwise = parseLine('{"step":2,"lr":0.1,"buf_h_buf":0.3,"loss2_delta":-0.01,"grad2_dot_buf":0.2,"grad2_next_dot_buf":0.1}');
  assert.ok(
    pathwise.ok && pathwise.record.type === 'step' && pathwise.record.metrics === undefined,
    "the pathwise FDR2 fields are the protocol's",
  );
  const plain = parseLine('{"step":1,"lr":0.1,"loss":1}');
  assert.ok(plain.ok && plain.record.type === 'step' && plain.record.metrics === undefined, 'no metrics field when there are none');
});

test('an eval event carries its scalars as metrics at its step; protocol events carry none', () => {
  const e = parseLine(
    '{"type":"event","event":"eval","step":500,"lr":0.05,"epoch":2,"test_accuracy":0.91,"test_loss":"nan","source":"kit"}',
  );
  assert.ok(e.ok && e.record.type === 'event');
  if (!e.ok || e.record.type !== 'event') return;
  assert.equal(e.record.step, 500);
  assert.equal(e.record.metrics!.epoch, 2);
  assert.equal(e.record.metrics!.test_accuracy, 0.91);
  assert.ok(Number.isNaN(e.record.metrics!.test_loss));
  assert.deepEqual(Object.keys(e.record.metrics!).sort(), ['epoch', 'test_accuracy', 'test_loss']);
  for (const line of [
    '{"type":"event","event":"lr_set","step":9,"lr":0.01,"extra":3}',
    '{"type":"event","event":"center","step":9,"center":2,"n":4}',
    '{"type":"event","event":"finished","step":9,"steps":10}',
    // The trainer's report of refused control lines: its count is the protocol's, not a metric.
    '{"type":"event","step":812,"event":"error","reason":"1900 control lines from ws dropped","source":"ws","dropped":1900}',
  ]) {
    const p = parseLine(line);
    assert.ok(p.ok && p.record.type === 'event' && p.record.metrics === undefined, line);
  }
});

test('names: empty, over-long and __proto__ are not metrics; a user "metrics" field cannot replace them', () => {
  const long = 'm'.repeat(MAX_METRIC_NAME + 1);
  const ok = 'k'.repeat(MAX_METRIC_NAME);
  const r = parseLine(`{"step":1,"lr":0.1,"${long}":1,"${ok}":2,"":3,"__proto__":4,"metrics":{"x":5}}`);
  assert.ok(r.ok && r.record.type === 'step');
  if (!r.ok || r.record.type !== 'step') return;
  assert.deepEqual(r.record.metrics, { [ok]: 2 });
  assert.equal(Object.getPrototypeOf(r.record.metrics), Object.prototype);
  const ev = parseLine('{"type":"event","event":"eval","step":3,"metrics":{"x":5}}');
  assert.ok(ev.ok && ev.record.type === 'event' && ev.record.metrics === undefined);
});

test('the stream parser passes metrics through and still counts records and skips exactly', () => {
  const got: StreamRecord[] = [];
  const p = new StreamParser((r) => got.push(r));
  const lines: string[] = [];
  for (let s = 0; s < 100; s++) {
    lines.push(JSON.stringify({ step: s, lr: 0.1, loss: 1 / (s + 1), gnorm: s * 0.5 }));
    if (s % 25 === 24) lines.push(JSON.stringify({ type: 'event', event: 'eval', step: s, val_loss: s / 100 }));
  }
  lines.push('{"step":"x","lr":0.1,"acc":1}');
  p.push(lines.join('\n') + '\n');
  p.end();
  assert.equal(p.records, 104);
  assert.equal(p.skipped, 1);
  const evals = got.filter((r) => r.type === 'event').map((r) => [r.step, r.metrics?.val_loss]);
  assert.deepEqual(evals, [
    [24, 0.24],
    [49, 0.49],
    [74, 0.74],
    [99, 0.99],
  ]);
  const steps = got.filter((r) => r.type === 'step');
  assert.equal(steps[7].type === 'step' && steps[7].metrics?.gnorm, 3.5);
});

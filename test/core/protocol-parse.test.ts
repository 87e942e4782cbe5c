/**
 * The metrics stream v1 parser (src/core/protocol.ts, docs/protocol.md) field
 * by field: which protocol numbers are read (finite JSON numbers and the
 * strings nan / inf / -inf with their spellings) and how they are written
 * back; every reason a step, event or centre entry is refused, and what a
 * valid one keeps; the user's own metrics and their name and value limits;
 * how the stream parser counts lines, blank lines, duplicates and skips, and
 * the examples it keeps. Each expected record is written out in full here.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  StreamParser,
  parseLine,
  parseObject,
  readNumber,
  writeNumber,
  userMetrics,
  formatLine,
  MAX_LINE_LENGTH,
  MAX_METRIC_NAME,
  MAX_SKIP_EXAMPLES,
  SKIP_TEXT_LENGTH,
  type StreamRecord,
} from '../../src/core/protocol';

const fails = (line: string, reason: string) => assert.deepEqual(parseLine(line), { ok: false, reason }, line);
const reads = (line: string, record: StreamRecord) => assert.deepEqual(parseLine(line), { ok: true, record }, line);

test('readNumber: a JSON number as it is; nan, inf, -inf in every spelling the protocol allows; nothing else', () => {
  assert.equal(readNumber(0.25), 0.25);
  assert.equal(readNumber(-3), -3);
  assert.ok(Number.isNaN(readNumber(NaN)), 'a number stays a number, NaN too');
  for (const s of ['nan', 'NaN', ' NAN ']) assert.ok(Number.isNaN(readNumber(s)), s);
  for (const s of ['inf', '+inf', 'infinity', '+infinity', 'Inf', ' INFINITY\t']) assert.equal(readNumber(s), Infinity, s);
  for (const s of ['-inf', '-infinity', '-Infinity', ' -INF ']) assert.equal(readNumber(s), -Infinity, s);
  for (const v of ['0.5', '1e3', '', 'nope', 'in f', '--inf', true, null, undefined, {}, [1]])
    assert.equal(readNumber(v), undefined, String(v));
});

test('writeNumber and formatLine: finite values as numbers, NaN as "nan", ±∞ as "inf"/"-inf"; one line with its newline', () => {
  assert.deepEqual(
    [writeNumber(1.5), writeNumber(0), writeNumber(NaN), writeNumber(Infinity), writeNumber(-Infinity)],
    [1.5, 0, 'nan', 'inf', '-inf'],
  );
  assert.equal(
    formatLine({ step: 1, lr: 0.1, loss: NaN, buf_sq: Infinity, param_sq: -Infinity }),
    '{"step":1,"lr":0.1,"loss":"nan","buf_sq":"inf","param_sq":"-inf"}\n',
  );
  assert.equal(formatLine({ type: 'control', command: 'set_lr', lr: 0.05 }), '{"type":"control","command":"set_lr","lr":0.05}\n');
});

test('parseLine: a trailing CR and a leading byte-order mark are dropped; what is not a JSON object is refused', () => {
  reads('{"step":1,"lr":0.1}\r', { type: 'step', step: 1, lr: 0.1 });
  reads('\ufeff{"step":1,"lr":0.1}', { type: 'step', step: 1, lr: 0.1 });
  reads('\ufeff{"step":1,"lr":0.1}\r', { type: 'step', step: 1, lr: 0.1 });
  // Only one BOM is dropped: a second is not JSON. (A CR is JSON whitespace; it is dropped so that it does not count against 1 MiB.)
  fails('\ufeff\ufeff{"step":1,"lr":0.1}', 'not JSON');
  fails('', 'not JSON');
  fails('{"step":1,', 'not JSON');
  for (const v of ['null', '3', '"step"', 'true', '[]', '[{"step":1,"lr":0.1}]']) fails(v, 'not a JSON object');
  const long = '{"step":1,"lr":0.1,"pad":"' + 'x'.repeat(MAX_LINE_LENGTH) + '"}';
  fails(long, `line longer than 1 MiB (${long.length} characters)`);
});

test('a step record: every numeric field read, null fields left out, nan/inf observables kept as data', () => {
  const all = [
    'theta_dot_grad',
    'buf_sq',
    'param_sq',
    'theta_dot_buf',
    'update_sq',
    'theta_dot_update',
    'grad_sq',
    'grad_dot_grad2',
    'buf_h_buf',
    'loss2_delta',
    'grad2_dot_buf',
    'grad2_next_dot_buf',
  ];
  const fields = Object.fromEntries(all.map((k, i) => [k, i + 0.5]));
  assert.deepEqual(parseObject({ step: 3, lr: 0.01, momentum: 0.9, dampening: 0.1, weight_decay: 5e-4, loss: 2, time: 1.5, ...fields }), {
    ok: true,
    record: { type: 'step', step: 3, lr: 0.01, momentum: 0.9, dampening: 0.1, weight_decay: 5e-4, loss: 2, time: 1.5, ...fields },
  });
  reads('{"step":7,"lr":0.1,"loss":"nan","buf_sq":"inf","param_sq":null,"theta_dot_grad":"-inf"}', {
    type: 'step',
    step: 7,
    lr: 0.1,
    loss: NaN,
    buf_sq: Infinity,
    theta_dot_grad: -Infinity,
  });
  reads('{"type":"step","step":0,"lr":1,"loss":"inf","grad_sq":"nan"}', { type: 'step', step: 0, lr: 1, loss: Infinity, grad_sq: NaN });
});

test('a step record is refused, with its reason, for each bad step, lr, hyper-parameter or observable', () => {
  for (const l of ['{"lr":0.1}', '{"step":"0","lr":0.1}', '{"step":null,"lr":0.1}', '{"step":true,"lr":0.1}'])
    fails(l, 'missing or non-numeric "step"');
  for (const l of ['{"step":1.5,"lr":0.1}', '{"step":"inf","lr":0.1}', '{"step":"nan","lr":0.1}', '{"step":"-inf","lr":0.1}'])
    fails(l, '"step" is not a finite integer');
  for (const l of ['{"step":1}', '{"step":1,"lr":"0.1"}', '{"step":1,"lr":null}']) fails(l, 'missing or non-numeric "lr"');
  for (const l of ['{"step":1,"lr":"inf"}', '{"step":1,"lr":"nan"}', '{"step":1,"lr":"-inf"}']) fails(l, '"lr" is not finite');
  for (const l of ['{"step":1,"lr":0}', '{"step":1,"lr":-0.1}']) fails(l, '"lr" is not > 0');
  fails('{"step":1,"lr":0.1,"loss":"0.5"}', 'non-numeric "loss"');
  fails('{"step":1,"lr":0.1,"buf_sq":true}', 'non-numeric "buf_sq"');
  fails('{"step":1,"lr":0.1,"grad2_next_dot_buf":[1]}', 'non-numeric "grad2_next_dot_buf"');
  // Hyper-parameters and the clock must be finite; observables may be nan/inf (a diverged run is data).
  fails('{"step":1,"lr":0.1,"momentum":"inf"}', '"momentum" is not finite');
  fails('{"step":1,"lr":0.1,"dampening":"nan"}', '"dampening" is not finite');
  fails('{"step":1,"lr":0.1,"weight_decay":"-inf"}', '"weight_decay" is not finite');
  fails('{"step":1,"lr":0.1,"time":"inf"}', '"time" is not finite');
});

test('centre fields: "center" an integer id, "centers" a list of objects with an integer id and numeric observables', () => {
  reads('{"step":1,"lr":0.1,"center":2}', { type: 'step', step: 1, lr: 0.1, center: 2 });
  reads('{"step":1,"lr":0.1,"center":null,"centers":null}', { type: 'step', step: 1, lr: 0.1 });
  for (const c of ['1.5', '"x"', '"inf"', 'true']) fails(`{"step":1,"lr":0.1,"center":${c}}`, '"center" is not an integer');
  reads('{"step":1,"lr":0.1,"centers":[]}', { type: 'step', step: 1, lr: 0.1, centers: [] });
  reads(
    '{"step":1,"lr":0.1,"centers":[{"id":1,"param_sq":2,"theta_dot_grad":null,"theta_dot_buf":"nan","theta_dot_update":-1,"other":5},{"id":3}]}',
    { type: 'step', step: 1, lr: 0.1, centers: [{ id: 1, param_sq: 2, theta_dot_buf: NaN, theta_dot_update: -1 }, { id: 3 }] },
  );
  for (const c of ['{}', '3', '"a"']) fails(`{"step":1,"lr":0.1,"centers":${c}}`, '"centers" is not an array');
  for (const e of ['null', '3', '[1]', '"c"']) fails(`{"step":1,"lr":0.1,"centers":[{"id":1},${e}]}`, '"centers" entry is not an object');
  for (const e of ['{}', '{"id":1.5}', '{"id":"1"}', '{"id":"inf"}'])
    fails(`{"step":1,"lr":0.1,"centers":[${e}]}`, '"centers" entry without an integer "id"');
  fails('{"step":1,"lr":0.1,"centers":[{"id":4,"theta_dot_grad":"x"}]}', '"centers" entry 4: non-numeric "theta_dot_grad"');
  fails('{"step":1,"lr":0.1,"centers":[{"id":4,"theta_dot_update":{}}]}', '"centers" entry 4: non-numeric "theta_dot_update"');
});

test('events: a string "event", numeric step/lr/center, an lr_set with a positive lr; user metrics only on non-protocol events', () => {
  for (const l of ['{"type":"event"}', '{"type":"event","event":3}', '{"type":"event","event":null}'])
    fails(l, 'event without a string "event" field');
  fails('{"type":"event","event":"eval","step":"x"}', 'event "eval": non-numeric or non-finite "step"');
  fails('{"type":"event","event":"eval","step":null}', 'event "eval": non-numeric or non-finite "step"');
  fails('{"type":"event","event":"eval","lr":"inf"}', 'event "eval": non-numeric or non-finite "lr"');
  fails('{"type":"event","event":"center","center":"nan"}', 'event "center": non-numeric or non-finite "center"');
  reads('{"type":"event","event":"eval","step":10,"test_loss":0.5,"acc":"nan","note":"hi","metrics":{"x":1}}', {
    type: 'event',
    event: 'eval',
    step: 10,
    test_loss: 0.5,
    acc: 'nan',
    note: 'hi',
    metrics: { test_loss: 0.5, acc: NaN },
  });
  // A user's own "metrics" field is not kept, even on an event with no metrics of its own.
  reads('{"type":"event","event":"eval","metrics":{"x":1}}', { type: 'event', event: 'eval' });
  for (const e of ['lr_set', 'center', 'finished', 'error'])
    reads(`{"type":"event","event":"${e}","lr":0.5,"dropped":3,"metrics":{"x":1}}`, { type: 'event', event: e, lr: 0.5, dropped: 3 });
  fails('{"type":"event","event":"lr_set","step":"12","lr":0.01}', 'event "lr_set": non-numeric or non-finite "step"');
  for (const l of [
    '{"type":"event","event":"lr_set","step":5}',
    '{"type":"event","event":"lr_set","lr":0}',
    '{"type":"event","event":"lr_set","lr":-0.1}',
  ])
    fails(l, 'lr_set event without a positive "lr"');
  reads('{"type":"event","event":"lr_set","step":5,"lr":0.01,"source":"user"}', {
    type: 'event',
    event: 'lr_set',
    step: 5,
    lr: 0.01,
    source: 'user',
  });
  // Other events need no lr.
  reads('{"type":"event","event":"finished","step":9}', { type: 'event', event: 'finished', step: 9 });
});

test('meta keeps every field; an unknown type is refused with its JSON (cut to 40 characters); a missing type is a step', () => {
  reads('{"type":"meta","version":1,"run":"a","total_steps":100,"x":[1]}', {
    type: 'meta',
    version: 1,
    run: 'a',
    total_steps: 100,
    x: [1],
  });
  fails('{"type":"weird","step":2}', 'unknown type "weird"');
  fails('{"type":5}', 'unknown type 5');
  fails('{"type":null}', 'unknown type null');
  fails(`{"type":"${'x'.repeat(50)}"}`, `unknown type "${'x'.repeat(39)}`);
  reads('{"step":2,"lr":0.5}', { type: 'step', step: 2, lr: 0.5 });
});

test('userMetrics: unknown fields with a number or a short nan/inf string, names of 1 to 64 characters, never __proto__', () => {
  const known = new Set(['step']);
  assert.deepEqual(userMetrics({ step: 1, a: 1, b: 'inf', c: ' -infinity', d: '  -infinity', e: 'x', f: true, g: null, h: {} }, known), {
    a: 1,
    b: Infinity,
    c: -Infinity,
  });
  assert.equal(userMetrics({ step: 1, e: 'x' }, known), undefined, 'none: undefined');
  assert.equal(userMetrics({}, known), undefined);
  const n64 = 'm'.repeat(MAX_METRIC_NAME);
  assert.deepEqual(userMetrics({ [n64]: 1, [n64 + 'm']: 2, '': 3 }, known), { [n64]: 1 });
  assert.equal(userMetrics(JSON.parse('{"__proto__":1}') as Record<string, unknown>, known), undefined);
});

test('the stream parser: line numbers count blank lines, which are neither records nor skips', () => {
  const got: [StreamRecord, number][] = [];
  const p = new StreamParser((r, n) => got.push([r, n]));
  assert.equal(p.pending, false);
  p.push('\n\r\n   \n{"step":1,"lr":0.1}\n{"step":2,');
  assert.equal(p.pending, true, 'a partial line waits');
  p.push('"lr":0.1}');
  p.end();
  assert.equal(p.pending, false);
  assert.deepEqual(got, [
    [{ type: 'step', step: 1, lr: 0.1 }, 4],
    [{ type: 'step', step: 2, lr: 0.1 }, 5],
  ]);
  assert.deepEqual([p.lineNo, p.records, p.skipped, p.duplicates, p.examples], [5, 2, 0, 0, []]);
  p.end();
  assert.equal(p.lineNo, 5, 'a second end reads nothing');
});

test('the stream parser: only a repeat of the previous step record is a duplicate; reported once', () => {
  const steps: number[] = [];
  const p = new StreamParser((r) => r.type === 'step' && steps.push(r.step));
  const dup: [number, number][] = [];
  p.onDuplicate = (step, line) => dup.push([step, line]);
  const l = (s: number) => `{"step":${s},"lr":0.1}\n`;
  p.push(l(1) + l(1) + l(2) + l(1) + '{"type":"meta"}\n' + l(1) + l(1) + l(1));
  p.end();
  assert.deepEqual(steps, [1, 2, 1, 1]);
  assert.deepEqual([p.records, p.duplicates, p.skipped], [5, 3, 3]);
  assert.deepEqual(dup, [[1, 2]]);
  assert.deepEqual(p.examples, [
    { line: 2, reason: 'duplicate of the previous step record (step 1)', text: '{"step":1,"lr":0.1}' },
    { line: 7, reason: 'duplicate of the previous step record (step 1)', text: '{"step":1,"lr":0.1}' },
    { line: 8, reason: 'duplicate of the previous step record (step 1)', text: '{"step":1,"lr":0.1}' },
  ]);
  // Without a listener a duplicate is still counted.
  const q = new StreamParser(() => {});
  q.push(l(4) + l(4));
  assert.deepEqual([q.records, q.duplicates, q.skipped], [1, 1, 1]);
});

test('the stream parser: at most 5 examples, each line cut to 120 characters, an unreadable piece counted as a line', () => {
  const p = new StreamParser(() => {});
  p.skipUnreadable('binary WebSocket message');
  p.push('x'.repeat(SKIP_TEXT_LENGTH) + '\n' + 'y'.repeat(SKIP_TEXT_LENGTH + 1) + '\n');
  p.push('a\nb\nc\nd\n');
  p.end();
  assert.equal(MAX_SKIP_EXAMPLES, 5);
  assert.deepEqual([p.lineNo, p.skipped, p.records], [7, 7, 0]);
  assert.deepEqual(p.examples, [
    { line: 1, reason: 'binary WebSocket message' },
    { line: 2, reason: 'not JSON', text: 'x'.repeat(120) },
    { line: 3, reason: 'not JSON', text: 'y'.repeat(120) + '…' },
    { line: 4, reason: 'not JSON', text: 'a' },
    { line: 5, reason: 'not JSON', text: 'b' },
  ]);
});

test('the stream parser: an over-long last line without a newline is counted once at end; the next line is read', () => {
  const got: StreamRecord[] = [];
  const p = new StreamParser((r) => got.push(r));
  p.push('x'.repeat(MAX_LINE_LENGTH + 2));
  assert.equal(p.pending, true, 'the over-long line is still open');
  p.push('more');
  p.end();
  assert.deepEqual([p.lineNo, p.skipped, p.records], [1, 1, 0]);
  assert.deepEqual(p.examples, [{ line: 1, reason: 'line longer than 1 MiB' }]);
  assert.equal(p.pending, false);
  // A line of MAX_LINE_LENGTH + 1 characters pending (a 1 MiB line and its CR) is kept until its newline.
  const q = new StreamParser((r) => got.push(r));
  const line = '{"step":9,"lr":0.1,"pad":"' + 'p'.repeat(MAX_LINE_LENGTH - 28) + '"}';
  assert.equal(line.length, MAX_LINE_LENGTH);
  q.push(line + '\r');
  q.push('\n');
  assert.deepEqual([q.records, q.skipped], [1, 0]);
  assert.equal(got.length, 1);
  // An over-long line then a good one in the same chunk: one skip, one record.
  const r = new StreamParser((x) => got.push(x));
  r.push('z'.repeat(MAX_LINE_LENGTH + 5));
  r.push('zz\n{"step":3,"lr":0.1}\n');
  assert.deepEqual([r.lineNo, r.skipped, r.records], [2, 1, 1]);
  assert.deepEqual(
    r.examples,
    [{ line: 1, reason: 'line longer than 1 MiB' }],
    'the tail of the long line is not read as a line of its own',
  );
  r.end();
  assert.deepEqual([r.lineNo, r.skipped, r.pending], [2, 1, false], 'nothing left open after its newline');
});

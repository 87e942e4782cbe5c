import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StreamParser, parseLine, formatLine, MAX_LINE_LENGTH, StreamRecord } from '../../src/core/protocol';

test('a line without type is a step; nan/inf strings are read', () => {
  const r = parseLine('{"step":3,"lr":0.1,"loss":"nan","buf_sq":"inf"}\r');
  if (!r.ok) return assert.fail(`not parsed: ${JSON.stringify(r)}`);
  if (r.record.type !== 'step') return assert.fail(`read as ${r.record.type}, not a step`);
  assert.equal(r.record.step, 3);
  assert.ok(Number.isNaN(r.record.loss));
  assert.equal(r.record.buf_sq, Infinity);
});

test('bad lines are skipped with reasons, never thrown', () => {
  const got: StreamRecord[] = [];
  const p = new StreamParser((r) => got.push(r));
  const lines = [
    '{"step":1,"lr":0.1}',
    'not json',
    '[1,2]',
    '{"type":"weird","step":2}',
    '{"step":"x","lr":0.1}',
    '{"step":2}',
    '{"step":2,"lr":"nan"}',
    '{"step":2,"lr":0.1,"momentum":"inf"}',
    '{"type":"event","event":"lr_set","step":5,"lr":0.01}',
    '{"type":"meta","version":1}',
  ];
  p.push(lines.join('\n') + '\n');
  p.end();
  assert.equal(got.length, 3);
  assert.equal(p.skipped, 7);
  assert.equal(p.examples.length, 5);
  assert.equal(p.examples[0].line, 2);
});

test('partial lines are buffered across chunks; a last line without newline is read at end', () => {
  const got: StreamRecord[] = [];
  const p = new StreamParser((r) => got.push(r));
  const text = '{"step":1,"lr":0.1}\n{"step":2,"lr":0.1}\n{"step":3,"lr":0.1}';
  for (const ch of text) p.push(ch);
  assert.equal(got.length, 2);
  p.end();
  assert.equal(got.length, 3);
});

test('lines longer than 1 MiB are skipped and counted once, even across chunks', () => {
  const got: StreamRecord[] = [];
  const p = new StreamParser((r) => got.push(r));
  const huge = '{"step":1,"lr":0.1,"pad":"' + 'x'.repeat(MAX_LINE_LENGTH) + '"}';
  p.push('{"step":0,"lr":0.1}\n');
  for (let i = 0; i < huge.length; i += 65536) p.push(huge.slice(i, i + 65536));
  p.push('\n{"step":2,"lr":0.1}\n');
  p.end();
  assert.deepEqual(
    got.map((r) => (r as { step: number }).step),
    [0, 2],
  );
  assert.equal(p.skipped, 1);
  assert.match(p.examples[0].reason, /1 MiB/);
});

test('fuzz: random bytes and cut lines never throw and count exactly', () => {
  let seed = 12345;
  const rnd = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  for (let trial = 0; trial < 200; trial++) {
    const good: string[] = [];
    let text = '';
    let expectGood = 0;
    let expectLines = 0;
    const n = 1 + Math.floor(rnd() * 30);
    for (let i = 0; i < n; i++) {
      const kind = rnd();
      let line: string;
      if (kind < 0.5) {
        line = formatLine({ step: i, lr: 0.1, loss: rnd() < 0.1 ? NaN : rnd() }).trimEnd();
        expectGood++;
        good.push(line);
      } else if (kind < 0.8) {
        // random bytes without newline, made non-blank and non-JSON
        line =
          '#' +
          Array.from({ length: Math.floor(rnd() * 80) }, () => String.fromCharCode(1 + Math.floor(rnd() * 254)))
            .join('')
            .replace(/\n/g, ' ');
      } else {
        const full = formatLine({ step: i, lr: 0.1 }).trimEnd();
        line = full.slice(0, Math.max(1, Math.floor(rnd() * (full.length - 1)))); // cut line
      }
      text += line + '\n';
      expectLines++;
    }
    const got: StreamRecord[] = [];
    const p = new StreamParser((r) => got.push(r));
    let i = 0;
    while (i < text.length) {
      const k = 1 + Math.floor(rnd() * 50);
      p.push(text.slice(i, i + k));
      i += k;
    }
    p.end();
    assert.equal(got.length, expectGood);
    assert.equal(p.records + p.skipped, expectLines);
  }
});

test('skip examples keep the start of the line, so a user sees what their script printed', () => {
  const p = new StreamParser(() => {});
  p.push('epoch 1 loss 0.52\n{"step":1}\n' + 'x'.repeat(500) + '\n');
  p.end();
  assert.deepEqual(p.examples.slice(0, 2), [
    { line: 1, reason: 'not JSON', text: 'epoch 1 loss 0.52' },
    { line: 2, reason: 'missing or non-numeric "lr"', text: '{"step":1}' },
  ]);
  assert.equal(p.examples[2].text, 'x'.repeat(120) + '…');
});

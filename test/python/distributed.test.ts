/**
 * fdr_monitor under torch.distributed with two real CPU processes (gloo):
 * DDP (rank 0 writes; a set_lr and a stop from its control file reach every
 * rank at the same step; one acknowledgement) and sharded parameters (each
 * rank a slice; the partial dot products summed; the identity holds on the
 * summed stream). The checks are test/python/check_distributed.py.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { python, root } from './helpers';

test('DDP and sharded parameters over two gloo processes: one stream, the same step for every control request, summed partial products', () => {
  const r = python([join(root, 'test', 'python', 'check_distributed.py')]);
  const summary = /(\d+) passed, (\d+) failed/.exec(r.stdout);
  assert.ok(summary, `no summary line:\n${r.stdout}\n${r.stderr}`);
  assert.equal(Number(summary[2]), 0, r.stdout + r.stderr);
  assert.equal(Number(summary[1]), 2, r.stdout);
  assert.equal(r.status, 0, r.stdout + r.stderr);
});

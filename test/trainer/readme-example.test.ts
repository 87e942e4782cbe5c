/**
 * The "use the kit in your own script" example, exactly as printed in
 * README.md and docs/trainer.md, runs and writes a valid stream.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { parseLine, type EventRecord, type MetaRecord, type StepRecord } from '../../src/core/protocol';

const ROOT = path.join(__dirname, '..', '..', '..');

/** The first ```js block that uses the kit. */
function example(file: string): string {
  const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
  const blocks = [...text.matchAll(/```js\n([\s\S]*?)```/g)].map((m) => m[1]);
  const code = blocks.find((b) => b.includes("require('./out/src/trainer')"));
  assert.ok(code, `${file}: no js example using require('./out/src/trainer')`);
  return code;
}

for (const file of ['README.md', 'docs/trainer.md']) {
  test(`${file}: the trainer-kit example runs as printed`, () => {
    // Run it from the repository root as the text says (its require is relative to the script):
    // the script goes to out/ (build output, git-ignored) with the path adjusted by one level.
    const code = example(file).replace("require('./out/src/trainer')", "require('./src/trainer')");
    const script = path.join(ROOT, 'out', `readme-example-${process.pid}-${path.basename(file)}.js`);
    fs.writeFileSync(script, code);
    try {
      const r = spawnSync(process.execPath, [script], {
        cwd: ROOT,
        env: { ...process.env, STEPS: '60' },
        encoding: 'utf8',
        timeout: 60000,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      assert.equal(r.status, 0, r.stderr);
      const recs = r.stdout
        .trim()
        .split('\n')
        .map((l) => {
          const p = parseLine(l);
          assert.ok(p.ok, `not stream v1: ${l}`);
          return p.record;
        });
      const meta = recs[0] as MetaRecord;
      assert.equal(meta.type, 'meta');
      assert.equal(meta.run, 'toy');
      const steps = recs.filter((x): x is StepRecord => x.type === 'step');
      assert.equal(steps.length, 60);
      assert.ok(steps.every((s) => Number.isFinite(s.theta_dot_grad) && Number.isFinite(s.buf_sq) && s.lr === 0.1));
      assert.ok(steps[50].buf_h_buf !== undefined && Number.isFinite(steps[50].buf_h_buf), 'FDR2 at step 50');
      assert.equal((recs[recs.length - 1] as EventRecord).event, 'finished');
      assert.match(r.stderr, /done after 60 steps: completed/);
    } finally {
      fs.rmSync(script, { force: true });
    }
  });
}

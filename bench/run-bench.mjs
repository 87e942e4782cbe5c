#!/usr/bin/env node
// Runs every compiled benchmark (out/bench/**/*.bench.js) one after another.
// Benchmarks report ratios against a baseline measured in the same process.
// Usage: node bench/run-bench.mjs [substring …]
import { readdirSync, statSync, existsSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const dir = join(root, 'out', 'bench');
function walk(d, acc) {
  if (!existsSync(d)) return acc;
  for (const n of readdirSync(d).sort()) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (n.endsWith('.bench.js')) acc.push(p);
  }
  return acc;
}
const filters = process.argv.slice(2);
const files = walk(dir, []).filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)));
let failed = 0;
for (const f of files) {
  console.log(`\n=== ${relative(root, f)}`);
  const r = spawnSync(process.execPath, ['--expose-gc', f], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) failed++;
}
// The PyTorch package's overhead (bench/torch): only where /usr/bin/python3 has torch.
let ran = files.length;
if (
  (filters.length === 0 || filters.some((s) => 'bench/torch/overhead.py'.includes(s))) &&
  spawnSync('/usr/bin/python3', ['-c', 'import torch'], { stdio: 'ignore' }).status === 0
) {
  console.log('\n=== bench/torch/overhead.py');
  const r = spawnSync('nice', ['/usr/bin/python3', join(root, 'bench', 'torch', 'overhead.py')], { stdio: 'inherit', cwd: root });
  ran++;
  if (r.status !== 0) failed++;
}
console.log(`\n${ran - failed} benchmarks finished, ${failed} failed`);
process.exit(failed ? 1 : 0);

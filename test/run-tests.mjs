#!/usr/bin/env node
// Runs every compiled test file (out/test/**/*.test.js) under Node's test runner,
// so the closing summary is the runner's machine-readable one.
// Usage: node test/run-tests.mjs [substring …]   (only files whose path contains one of them)
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = join(fileURLToPath(import.meta.url), '..', '..');
const testRoot = join(root, 'out', 'test');

function walk(dir, acc) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, acc);
    else if (name.endsWith('.test.js')) acc.push(p);
  }
  return acc;
}

const filters = process.argv.slice(2);
const files = walk(testRoot, []).filter((f) => filters.length === 0 || filters.some((s) => relative(root, f).includes(s)));
if (files.length === 0) {
  console.error(
    `no test files under ${relative(root, testRoot)}${filters.length ? ' matching ' + filters.join(', ') : ''} (did the build run?)`,
  );
  process.exit(1);
}
const r = spawnSync(process.execPath, ['--test', '--test-reporter=spec', ...files], { stdio: 'inherit', cwd: root });
process.exit(r.status ?? 1);

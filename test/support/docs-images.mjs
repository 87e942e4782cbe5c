#!/usr/bin/env node
// Refreshes the documentation's images from the screenshots of the last
// end-to-end runs (test/e2e/panel.test.ts writes test-results/panel.png, test/e2e/features.test.ts
// the features-*.png of docs/user-guide.md, test/e2e/runs.test.ts test-results/runs.png).
// Tests never write tracked files; this explicit step does, after a look at the picture.
// Usage: npm run docs:images
import { copyFileSync, existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
/** test-results/<name> → docs/images/<name>. */
const IMAGES = [
  'panel.png',
  'features-metrics.png',
  'features-time-axis.png',
  'features-stalled.png',
  'features-stalled-statusbar.png',
  'runs.png',
];

let failed = false;
for (const name of IMAGES) {
  const from = join(root, 'test-results', name);
  const to = join(root, 'docs', 'images', name);
  if (!existsSync(from)) {
    console.error(
      `${relative(root, from)} is missing: run the end-to-end test first (node test/run-tests.mjs test/e2e after npm run build)`,
    );
    failed = true;
    continue;
  }
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  console.log(`${relative(root, from)} → ${relative(root, to)} (${(statSync(to).size / 1024).toFixed(0)} KB)`);
}
process.exit(failed ? 1 : 0);

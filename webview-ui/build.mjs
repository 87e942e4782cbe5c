#!/usr/bin/env node
// Bundles the panel front end for the webview: one IIFE for the browser
// (chart.js and the zoom plugin included; nothing is loaded from the network)
// plus the stylesheet, into out/webview/. Type-checks it first (esbuild does not).
// Also bundles the panel's DOM tests (test/webview/dom/*.test.ts, which run
// the webview modules under happy-dom in Node) into out/test/webview/dom/,
// where test/run-tests.mjs finds them.
import { build } from 'esbuild';
import { readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);

if (!process.argv.includes('--no-check')) {
  const tsc = require.resolve('typescript/bin/tsc');
  // The webview (DOM, no Node types), then its DOM tests (DOM + Node types).
  for (const config of ['tsconfig.json', 'tsconfig.test.json']) {
    const r = spawnSync(process.execPath, [tsc, '-p', join(here, config)], { stdio: 'inherit', cwd: root });
    if (r.status !== 0) process.exit(r.status ?? 1);
  }
}
await build({
  entryPoints: { main: join(here, 'src', 'main.ts'), panel: join(here, 'panel.css') },
  outdir: join(root, 'out', 'webview'),
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: ['chrome114'],
  minify: true,
  sourcemap: false,
  legalComments: 'none',
  logLevel: 'warning',
});
const domTests = join(root, 'test', 'webview', 'dom');
await build({
  entryPoints: readdirSync(domTests)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => join(domTests, f)),
  outdir: join(root, 'out', 'test', 'webview', 'dom'),
  bundle: true,
  // node:test, happy-dom: from node_modules at run time; the webview modules are bundled in.
  packages: 'external',
  format: 'cjs',
  platform: 'node',
  target: ['node20'],
  sourcemap: true,
  logLevel: 'warning',
});
console.log('webview bundle: out/webview/main.js, out/webview/panel.css; DOM tests: out/test/webview/dom/');

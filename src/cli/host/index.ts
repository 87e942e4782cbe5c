#!/usr/bin/env node
/**
 * The offline VS Code host (code-server + Chromium), shared by the tests
 * (test/host) and `npm start` (src/cli/launch.ts):
 *
 *   install.ts  ensureHost(): Node 24, code-server, apt packages — cached
 *   server.ts   startCodeServer() / stop(): 127.0.0.1, isolated dirs, trust option
 *   browser.ts  Playwright on the system Chromium: workbench, F1 commands, webview frames
 *
 * Run directly: `node out/src/cli/host/index.js install` installs (or
 * verifies) the host with one progress line per phase; `status` says what is
 * cached without installing anything.
 */
export * from './install';
export * from './server';

import { cacheDir, ensureHost, HostSetupError, locateHost } from './install';

async function cli(argv: string[]): Promise<number> {
  const [cmd] = argv;
  if (cmd === 'install') {
    const t0 = Date.now();
    const h = await ensureHost();
    process.stderr.write(
      `[host] ready in ${((Date.now() - t0) / 1000).toFixed(1)} s: node ${h.nodeBin}, code-server ${h.codeServerDir}, chromium ${h.chromium}\n`,
    );
    return 0;
  }
  if (cmd === 'status') {
    const h = locateHost();
    process.stdout.write(
      h ? `installed in ${h.cacheDir}\n` : `not (fully) installed; cache ${cacheDir()}: run 'node out/src/cli/host/index.js install'\n`,
    );
    return h ? 0 : 1;
  }
  process.stderr.write('usage: node out/src/cli/host/index.js install|status\n');
  return 2;
}

if (require.main === module) {
  cli(process.argv.slice(2)).then(
    (c) => process.exit(c),
    (e: unknown) => {
      process.stderr.write(`[host] ${e instanceof HostSetupError ? e.message : e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
      process.exit(1);
    },
  );
}

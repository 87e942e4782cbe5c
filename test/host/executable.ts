#!/usr/bin/env node
/**
 * A stand-in "VS Code executable" for @vscode/test-electron's `runTests`
 * where no desktop VS Code exists: it reads the flags runTests passes
 * (--extensionDevelopmentPath=, --extensionTestsPath=, --user-data-dir=,
 * --extensions-dir=, the folder), starts code-server with the smoke-test
 * driver, opens the workbench in headless Chromium with the test payload in
 * the URL, relays the extension host's output (window.codeAutomationLog) and
 * exits with the suite's code (window.codeAutomationExit).
 *
 * Options by environment (runTests' `extensionTestsEnv` reaches it):
 *   FDR_HOST_PATHS       JSON HostPaths (skips re-verifying the install)
 *   FDR_HOST_TRUST       'untrusted' → trust enabled, folder in Restricted Mode
 *   FDR_HOST_TIMEOUT_MS  whole-run limit (default 300000) → exit 124
 *   FDR_HOST_LOG_FILE    also append everything relayed to this file
 *   FDR_HOST_VERBOSE=1   relay code-server's and the page's console too
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ensureHost, type HostPaths } from '../../src/cli/host/install';
import { startCodeServer, type CodeServer } from '../../src/cli/host/server';
import { launchChromium } from '../../src/cli/host/browser';
import type { Browser } from 'playwright-core';

interface Flags {
  devPaths: string[];
  testsPath?: string;
  userDataDir?: string;
  extensionsDir?: string;
  folder?: string;
}

function parseFlags(argv: string[]): Flags {
  const f: Flags = { devPaths: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [k, v] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => v ?? argv[++i];
    if (k === '--extensionDevelopmentPath') f.devPaths.push(value());
    else if (k === '--extensionTestsPath') f.testsPath = value();
    else if (k === '--user-data-dir') f.userDataDir = value();
    else if (k === '--extensions-dir') f.extensionsDir = value();
    else if (!a.startsWith('-')) f.folder = path.resolve(a);
    // other Electron flags (--no-sandbox, --disable-updates, …) mean nothing here
  }
  return f;
}

const logFile = process.env.FDR_HOST_LOG_FILE;
function relay(stream: NodeJS.WriteStream, text: string): void {
  stream.write(text.endsWith('\n') ? text : text + '\n');
  if (logFile) fs.appendFileSync(logFile, text.endsWith('\n') ? text : text + '\n');
}

async function main(): Promise<number> {
  const flags = parseFlags(process.argv.slice(2));
  if (!flags.testsPath || flags.devPaths.length === 0) {
    relay(process.stderr, 'executable: --extensionTestsPath and --extensionDevelopmentPath are required');
    return 2;
  }
  const verbose = process.env.FDR_HOST_VERBOSE === '1';
  const host: HostPaths = process.env.FDR_HOST_PATHS ? JSON.parse(process.env.FDR_HOST_PATHS) : await ensureHost();
  const timeoutMs = Number(process.env.FDR_HOST_TIMEOUT_MS ?? 300_000);

  let server: CodeServer | undefined;
  let browser: Browser | undefined;
  const cleanup = async () => {
    await browser?.close().catch(() => undefined);
    await server?.stop();
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => void cleanup().then(() => process.exit(130)));

  try {
    const t0 = Date.now();
    server = await startCodeServer({
      host,
      folder: flags.folder,
      userDataDir: flags.userDataDir,
      extensionsDir: flags.extensionsDir,
      trust: process.env.FDR_HOST_TRUST === 'untrusted' ? 'untrusted' : 'disabled',
      smokeTestDriver: true,
      onOutput: verbose ? (l) => relay(process.stderr, `[code-server] ${l}`) : undefined,
    });
    relay(process.stderr, `[host] code-server ${host.codeServerDir} on 127.0.0.1:${server.port} (up in ${Date.now() - t0} ms)`);
    browser = await launchChromium(host.chromium);
    const page = await browser.newPage();
    let settle!: (r: { code: number; logs: unknown }) => void;
    const finished = new Promise<{ code: number; logs: unknown }>((r) => (settle = r));
    await page.exposeFunction('codeAutomationLog', (type: string, args: unknown) => {
      const text = Array.isArray(args) ? args.map((a) => (typeof a === 'string' ? a : JSON.stringify(a))).join(' ') : String(args);
      relay(type === 'error' ? process.stderr : process.stdout, text);
    });
    await page.exposeFunction('codeAutomationExit', (code: number, logs: unknown) => settle({ code, logs }));
    if (verbose) page.on('console', (m) => relay(process.stderr, `[page:${m.type()}] ${m.text()}`));
    page.on('pageerror', (e) => relay(process.stderr, `[page error] ${e.message}`));

    const payload: Array<[string, string]> = flags.devPaths.map((p) => ['extensionDevelopmentPath', server!.remoteUri(p)]);
    payload.push(['extensionTestsPath', server.remoteUri(flags.testsPath)]);
    await page.goto(server.urlWithPayload(payload));

    const timer = new Promise<{ code: number; logs: unknown }>((r) => setTimeout(() => r({ code: 124, logs: [] }), timeoutMs).unref());
    const result = await Promise.race([finished, timer]);
    if (result.code === 124) relay(process.stderr, `[host] the extension tests did not finish within ${timeoutMs / 1000} s`);
    if (result.code !== 0) dumpLogs(result.logs);
    return result.code;
  } catch (e) {
    relay(process.stderr, `[host] ${e instanceof Error ? e.message : String(e)}`);
    if (server) relay(process.stderr, server.output().trim().split('\n').slice(-20).join('\n'));
    return 1;
  } finally {
    await cleanup();
  }
}

/** On failure, the extension host's own log files (passed to codeAutomationExit) help most. */
function dumpLogs(logs: unknown): void {
  if (!Array.isArray(logs)) return;
  for (const l of logs as Array<{ relativePath?: string; contents?: unknown }>) {
    if (!l?.relativePath || !/exthost|remoteexthost/i.test(l.relativePath)) continue;
    const text = typeof l.contents === 'string' ? l.contents : Buffer.from(Object.values(l.contents as Record<string, number>)).toString();
    relay(process.stderr, `----- ${l.relativePath} (last 40 lines)\n${text.trim().split('\n').slice(-40).join('\n')}`);
  }
}

main().then(
  (code) => process.exit(code),
  (e) => {
    relay(process.stderr, String(e));
    process.exit(1);
  },
);

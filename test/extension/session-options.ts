/**
 * The Session options the session tests share: a trusted workspace, no
 * auto-apply, this repository as the extension, the spool under the test's
 * own temporary folder, log lines dropped unless a test collects them.
 */
import * as path from 'node:path';
import type { SessionOptions } from '../../src/extension/session';

const ROOT = path.resolve(__dirname, '..', '..', '..');

export function testSessionOptions(tmp: string, extra: Partial<SessionOptions> = {}): SessionOptions {
  return {
    analyzer: {},
    trusted: true,
    autoApply: false,
    extensionRoot: ROOT,
    nodePath: process.execPath,
    spoolDir: path.join(tmp, 'spool'),
    log: () => {},
    ...extra,
  };
}

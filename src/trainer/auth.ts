/**
 * Who may open the trainer's WebSocket (docs/security.md): a client that
 * presents the run's token, and no web page.
 *
 *   token   `Authorization: Bearer <token>` header, or `?token=<token>` in the
 *           URL's query (percent-encoded); either may carry it. Compared in
 *           constant time.
 *   Origin  browsers send it on every WebSocket handshake, and a page may
 *           open one to 127.0.0.1; Node clients (the monitor, the extension
 *           host, Python's `websockets`) send none. A handshake with an
 *           Origin that is not in the allow-list is refused.
 *
 * The token comes from `--ws-token-file FILE` or `--ws-token T`, else the
 * environment variable FDR_MONITOR_TOKEN (set by a monitor that launches the
 * trainer); without any, the trainer makes one (32 random bytes) and
 * prints the URL that carries it on stderr, for its user only. It is never
 * written into the stream.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import * as fs from 'node:fs';
import type { IncomingMessage } from 'node:http';

/** Environment variable that carries the token from a monitor to the trainer it launches (and to `watch --connect`). */
export const TOKEN_ENV = 'FDR_MONITOR_TOKEN';

/** Shorter tokens are refused: they could be guessed by trying. */
export const MIN_TOKEN_LENGTH = 16;

/** Longest token accepted (it travels in a header and a URL). */
export const MAX_TOKEN_LENGTH = 512;

/** 32 random bytes, base64url (43 characters, safe in a URL query as is). */
export function generateToken(): string {
  return randomBytes(32).toString('base64url');
}

/** Why a token is unusable, or undefined when it is fine: 16–512 visible ASCII characters, no spaces. */
export function tokenProblem(token: string): string | undefined {
  if (token.length < MIN_TOKEN_LENGTH) return `a token must have at least ${MIN_TOKEN_LENGTH} characters (got ${token.length})`;
  if (token.length > MAX_TOKEN_LENGTH) return `a token must have at most ${MAX_TOKEN_LENGTH} characters (got ${token.length})`;
  if (!/^[\x21-\x7e]+$/.test(token)) return 'a token may only contain visible ASCII characters (no spaces)';
  return undefined;
}

export interface TokenChoice {
  token: string;
  /** Where it came from. */
  from: 'file' | 'env' | 'flag' | 'generated';
}

/**
 * The server token: `file` (its content, surrounding whitespace trimmed) or
 * `flag` (not both), else the environment's FDR_MONITOR_TOKEN, else a fresh
 * one. Throws with a clear message for an unreadable file or an unusable token.
 */
export function chooseToken(o: { flag?: string; file?: string; env?: NodeJS.ProcessEnv }): TokenChoice {
  const env = o.env ?? process.env;
  if (o.flag !== undefined && o.file !== undefined) throw new Error('give the token once: --ws-token or --ws-token-file');
  let choice: TokenChoice;
  let what: string;
  if (o.file !== undefined) {
    let text: string;
    try {
      text = fs.readFileSync(o.file, 'utf8');
    } catch (e) {
      throw new Error(`cannot read the token file ${o.file}: ${(e as Error).message}`, { cause: e });
    }
    choice = { token: text.trim(), from: 'file' };
    what = `token file ${o.file}`;
  } else if (o.flag !== undefined) {
    choice = { token: o.flag, from: 'flag' };
    what = '--ws-token';
  } else if (env[TOKEN_ENV] !== undefined && env[TOKEN_ENV] !== '') {
    choice = { token: env[TOKEN_ENV]!, from: 'env' };
    what = TOKEN_ENV;
  } else return { token: generateToken(), from: 'generated' };
  const problem = tokenProblem(choice.token);
  if (problem) throw new Error(`${what}: ${problem}`);
  return choice;
}

/** The tokens a handshake presents: the Bearer header's and the `?token=` query's (either may be absent). */
export function presentedTokens(req: IncomingMessage): string[] {
  const out: string[] = [];
  const auth = req.headers.authorization;
  const m = typeof auth === 'string' ? /^Bearer\s+(\S+)\s*$/i.exec(auth) : null;
  if (m) out.push(m[1]);
  try {
    const q = new URL(req.url ?? '/', 'http://localhost').searchParams.get('token');
    if (q !== null) out.push(q);
  } catch {
    // an unparsable URL presents no token
  }
  return out;
}

/** Whether the handshake presents `expected` in its header or its query (each compared in constant time). */
export function handshakeAuthorized(req: IncomingMessage, expected: string): boolean {
  let ok = false;
  for (const t of presentedTokens(req)) ok = tokenMatches(t, expected) || ok;
  return ok;
}

/** Constant-time comparison: both sides hashed to equal-length digests, then timingSafeEqual. */
export function tokenMatches(given: string, expected: string): boolean {
  const a = createHash('sha256').update(given, 'utf8').digest();
  const b = createHash('sha256').update(expected, 'utf8').digest();
  return timingSafeEqual(a, b) && given.length === expected.length;
}

/** No Origin header (not a browser), or one that is exactly in the allow-list. */
export function originAllowed(origin: string | undefined, allow: readonly string[]): boolean {
  if (origin === undefined) return true;
  return allow.includes(origin);
}

/** `url` with `?token=` set (percent-encoded). */
export function urlWithToken(url: string, token: string): string {
  const u = new URL(url);
  u.searchParams.set('token', token);
  return u.toString();
}

/** `url` with the token's value hidden, for logs. */
export function redactToken(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/g, '$1…');
}

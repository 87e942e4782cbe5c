/**
 * A bench's simulated inputs kept between runs: out/bench-cache/<name>.json, computed once and read back after
 * (delete the file, or change the name, when what it holds changes).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(__dirname, '..', '..', 'out', 'bench-cache');

/** The cached value of `name`, else `compute()` written there first; `cached` says which. */
export function benchCache<T>(name: string, compute: () => T): { value: T; cached: boolean } {
  const file = join(DIR, `${name}.json`);
  if (existsSync(file)) return { value: JSON.parse(readFileSync(file, 'utf8')) as T, cached: true };
  const value = compute();
  mkdirSync(DIR, { recursive: true });
  writeFileSync(file, JSON.stringify(value));
  return { value, cached: false };
}

/**
 * The sources module has one entry: code outside src/sources (the extension,
 * the CLI, tests, benches) imports it as `…/sources` (index.ts), and no module
 * of src/ takes part in an import cycle (type-only imports included: the
 * shared types live in types.ts, which imports nothing of the sources).
 * Read from the TypeScript files themselves, not the compiled output.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ROOT } from './helpers';

function tsFiles(dir: string, acc: string[] = []): string[] {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) tsFiles(p, acc);
    else if (e.name.endsWith('.ts') && !e.name.endsWith('.d.ts')) acc.push(p);
  }
  return acc;
}

/** Relative module specifiers of `import … from`, `export … from`, `import(…)` and `require(…)`. */
function specifiers(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(/(?:\bfrom\s+|\bimport\s*\(\s*|\brequire\s*\(\s*|^\s*import\s+)['"](\.[^'"]*)['"]/gm)) out.push(m[1]);
  return out;
}

/** The file a relative specifier resolves to (x.ts or x/index.ts), or undefined. */
function resolveTs(from: string, spec: string): string | undefined {
  const base = resolve(dirname(from), spec);
  for (const cand of [`${base}.ts`, join(base, 'index.ts')]) if (existsSync(cand)) return cand;
  return undefined;
}

const SOURCES = join(ROOT, 'src', 'sources');
const rel = (p: string) => relative(ROOT, p);

test('callers outside src/sources import it through its entry only', () => {
  const files = ['src', 'test', 'bench'].flatMap((d) => tsFiles(join(ROOT, d))).filter((f) => !f.startsWith(SOURCES + '/'));
  const offenders: string[] = [];
  let viaEntry = 0;
  for (const f of files) {
    for (const spec of specifiers(readFileSync(f, 'utf8'))) {
      const target = resolveTs(f, spec);
      if (!target || !target.startsWith(SOURCES + '/')) continue;
      if (target === join(SOURCES, 'index.ts') && !spec.endsWith('/index')) viaEntry++;
      else offenders.push(`${rel(f)}: '${spec}'`);
    }
  }
  assert.deepEqual(offenders, [], 'import the sources as …/sources');
  assert.ok(viaEntry >= 5, `expected the extension, the CLI, tests and a bench to import the entry (found ${viaEntry})`);
});

test('no import cycles in src/', () => {
  const files = tsFiles(join(ROOT, 'src'));
  const graph = new Map<string, string[]>();
  for (const f of files) {
    const deps = specifiers(readFileSync(f, 'utf8'))
      .map((s) => resolveTs(f, s))
      .filter((t): t is string => t !== undefined);
    graph.set(f, deps);
  }
  assert.ok((graph.get(join(SOURCES, 'index.ts')) ?? []).length >= 4, 'the entry re-exports the implementations');
  // Depth-first search with colours: a grey node reached again closes a cycle.
  const colour = new Map<string, 'grey' | 'black'>();
  const cycles: string[] = [];
  const stack: string[] = [];
  const visit = (n: string) => {
    colour.set(n, 'grey');
    stack.push(n);
    for (const d of graph.get(n) ?? []) {
      const c = colour.get(d);
      if (c === 'grey') cycles.push([...stack.slice(stack.indexOf(d)), d].map(rel).join(' → '));
      else if (c === undefined) visit(d);
    }
    stack.pop();
    colour.set(n, 'black');
  };
  for (const f of files) if (!colour.has(f)) visit(f);
  assert.deepEqual(cycles, []);
});

/**
 * The docs stay true to the code: every relative link in README.md and
 * docs/**.md resolves (files and in-page anchors), every setting and command
 * the user guide names exists in the manifest, and every setting the manifest
 * contributes is documented in the user guide.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..', '..');
const read = (rel: string) => fs.readFileSync(path.join(root, rel), 'utf8');

function markdownFiles(): string[] {
  const out = ['README.md'];
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(path.join(root, dir), { withFileTypes: true })) {
      const rel = path.posix.join(dir, e.name);
      if (e.isDirectory()) walk(rel);
      else if (e.name.endsWith('.md')) out.push(rel);
    }
  };
  walk('docs');
  return out;
}

/** GitHub's heading anchor: lower case, punctuation dropped (letters of any script kept), spaces → '-'. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[`*_]/g, '')
    .replace(/[^\p{L}\p{N} -]/gu, '')
    .replace(/ /g, '-');
}

function anchors(md: string): Set<string> {
  const withoutCode = md.replace(/```[\s\S]*?```/g, '');
  return new Set([...withoutCode.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
}

/** Markdown links and images outside code blocks: [text](target). */
function links(md: string): string[] {
  const withoutCode = md.replace(/```[\s\S]*?```/g, '').replace(/`[^`\n]*`/g, '');
  return [...withoutCode.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
}

test('every relative link and anchor in README.md and docs/ resolves', () => {
  const broken: string[] = [];
  let checked = 0;
  for (const file of markdownFiles()) {
    const md = read(file);
    for (const target of links(md)) {
      if (/^[a-z]+:/i.test(target)) continue; // external URL
      checked++;
      const [p, hash] = target.split('#');
      const dest = p ? path.posix.normalize(path.posix.join(path.posix.dirname(file), p)) : file;
      if (!fs.existsSync(path.join(root, dest))) {
        broken.push(`${file}: ${target} (no ${dest})`);
        continue;
      }
      if (hash && dest.endsWith('.md') && !anchors(read(dest)).has(decodeURIComponent(hash))) {
        broken.push(`${file}: ${target} (no heading #${hash} in ${dest})`);
      }
    }
  }
  assert.deepEqual(broken, []);
  assert.ok(checked >= 20, `only ${checked} links checked`);
});

test('the user guide documents exactly the settings the manifest contributes, and names real commands', () => {
  const pkg = JSON.parse(read('package.json'));
  const settings = Object.keys(pkg.contributes.configuration.properties as Record<string, unknown>);
  const commands = (pkg.contributes.commands as { title: string; category?: string }[]).map((c) =>
    c.category ? `${c.category}: ${c.title}` : c.title,
  );
  const guide = read('docs/user-guide.md');
  const named = new Set([...guide.matchAll(/`(fdrMonitor\.[\w.]+)`/g)].map((m) => m[1]));
  assert.deepEqual(
    settings.filter((s) => !named.has(s)),
    [],
    'settings missing from the user guide',
  );
  assert.deepEqual(
    [...named].filter((s) => !settings.includes(s)),
    [],
    'settings in the guide that do not exist',
  );
  const quoted = [...guide.matchAll(/"(FDR: [^"]+)"/g)].map((m) => m[1]);
  assert.ok(quoted.length >= 2);
  assert.deepEqual(
    quoted.filter((c) => !commands.includes(c)),
    [],
    'commands in the guide that do not exist',
  );
  // Defaults in the settings table match the manifest's.
  for (const s of [
    'fdrMonitor.tolerance',
    'fdrMonitor.confidence',
    'fdrMonitor.dropFactor',
    'fdrMonitor.minSteps',
    'fdrMonitor.lastCallSteps',
    'fdrMonitor.websocket.port',
  ]) {
    const row = guide.split('\n').find((l) => l.startsWith(`| \`${s}\``));
    assert.ok(row, `settings table row for ${s}`);
    const def = pkg.contributes.configuration.properties[s].default;
    assert.equal(row.split('|')[2].trim(), String(def), `${s} default`);
  }
});

#!/usr/bin/env node
// Summary of the accumulated mutation report (npm run mutate writes it):
// per file killed, survived, timeout, no coverage, the mutants listed as
// equivalent in test/mutation/EQUIVALENT.md, and the score
//   killed (timeouts included, as Stryker counts them) / (killed + survived + no coverage),
// with the equivalent mutants taken out of the survivors. Then every survivor
// that is not listed, with its line, so a new one is seen at once.
// Usage: node test/mutation/summary.mjs [report.json]   (default: the incremental file)
import { readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');
const reportPath = process.argv[2] ?? join(root, 'reports', 'mutation', 'stryker-incremental.json');
const report = JSON.parse(readFileSync(reportPath, 'utf8'));

// Rows of EQUIVALENT.md: | `file:line:column` | Mutator | `replacement` | why |  (column 1-based, as the HTML report shows it)
const equivalent = new Set();
for (const line of readFileSync(join(here, 'EQUIVALENT.md'), 'utf8').split('\n')) {
  const m = /^\|\s*`([^`:]+):(\d+):(\d+)`\s*\|\s*(\w+)\s*\|\s*`(.*?)`\s*\|/.exec(line);
  if (m) equivalent.add(`${m[1]}:${m[2]}:${m[3]}:${m[4]}:${m[5].replace(/\\\|/g, '|')}`);
}
const keyOf = (file, m) =>
  `${file}:${m.location.start.line}:${m.location.start.column}:${m.mutatorName}:${(m.replacement ?? '').replace(/\s+/g, ' ')}`;

const rows = [];
const open = [];
const used = new Set();
for (const [file, { mutants }] of Object.entries(report.files).sort()) {
  const c = { killed: 0, survived: 0, timeout: 0, noCoverage: 0, equivalent: 0, other: 0 };
  for (const m of mutants) {
    const k = keyOf(file, m);
    if ((m.status === 'Survived' || m.status === 'NoCoverage') && equivalent.has(k)) {
      c.equivalent++;
      used.add(k);
    } else if (m.status === 'Killed') c.killed++;
    else if (m.status === 'Timeout') c.timeout++;
    else if (m.status === 'Survived') c.survived++;
    else if (m.status === 'NoCoverage') c.noCoverage++;
    else c.other++;
    if ((m.status === 'Survived' || m.status === 'NoCoverage') && !equivalent.has(k)) open.push({ file, m });
  }
  rows.push([file, c]);
}
const pct = (c) => {
  const detected = c.killed + c.timeout;
  const valid = detected + c.survived + c.noCoverage;
  return valid ? ((100 * detected) / valid).toFixed(1) + '%' : '—';
};
const total = { killed: 0, survived: 0, timeout: 0, noCoverage: 0, equivalent: 0, other: 0 };
const core = { ...total };
console.log('| file | killed | survived | timeout | no coverage | equivalent | ignored/other | score |');
console.log('|---|---|---|---|---|---|---|---|');
for (const [file, c] of rows) {
  console.log(`| ${file} | ${c.killed} | ${c.survived} | ${c.timeout} | ${c.noCoverage} | ${c.equivalent} | ${c.other} | ${pct(c)} |`);
  for (const k of Object.keys(total)) {
    total[k] += c[k];
    if (file.startsWith('src/core/')) core[k] += c[k];
  }
}
const line = (name, c) =>
  console.log(`| **${name}** | ${c.killed} | ${c.survived} | ${c.timeout} | ${c.noCoverage} | ${c.equivalent} | ${c.other} | ${pct(c)} |`);
line('src/core', core);
line('all', total);
if (open.length) {
  console.log(`\nSurvivors not listed in EQUIVALENT.md (${open.length}):`);
  for (const { file, m } of open)
    console.log(
      `${file}:${m.location.start.line}:${m.location.start.column} ${m.mutatorName} [${m.status}] ${JSON.stringify(m.replacement ?? '').slice(0, 100)}`,
    );
}
const stale = [...equivalent].filter((k) => !used.has(k));
if (stale.length) {
  console.log(`\nListed in EQUIVALENT.md but not a survivor in this report (killed since, moved, or not run) (${stale.length}):`);
  for (const k of stale) console.log(k);
}

#!/usr/bin/env node
// Mutation scores per folder from Stryker's JSON report, with the survivors triaged as
// equivalent (test/mutation/equivalent.json: mutants no test can kill, each with the reason)
// left out. Prints a table (and writes it as Markdown), lists the survivors still to triage in
// the folders with a target, and exits 1 when a target is missed.
//
//   node scripts/mutation-scores.mjs REPORT [EQUIVALENT] [SCORES.md]
//
// Score = detected / (detected + undetected): detected = Killed + Timeout, undetected =
// Survived + NoCoverage; CompileError (refused by the TypeScript checker), RuntimeError and
// Ignored (static: run only while modules load) count in neither.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';

const [reportFile = 'reports/mutation/mutation.json', equivalentFile = 'test/mutation/equivalent.json', out] = process
  .argv.slice(2);

/** Folders (or files) with a target, and the rest shown for information. Most specific first. */
export const GROUPS = [
  { name: 'lib/cli/commands', match: (f) => f.startsWith('lib/cli/commands/'), target: 80 },
  { name: 'lib/conntrack', match: (f) => f.startsWith('lib/conntrack/'), target: 80 },
  { name: 'lib/nflog', match: (f) => f.startsWith('lib/nflog/'), target: 80 },
  { name: 'lib/core/stream.ts', match: (f) => f === 'lib/core/stream.ts', target: 80 },
  { name: 'lib/cli (other)', match: (f) => f.startsWith('lib/cli/') },
  { name: 'lib/core (other)', match: (f) => f.startsWith('lib/core/') },
  { name: 'lib/trace', match: (f) => f.startsWith('lib/trace/') },
  { name: 'lib/packet', match: (f) => f.startsWith('lib/packet/') },
  { name: 'lib/exporter', match: (f) => f.startsWith('lib/exporter/') },
  { name: 'lib/flows', match: (f) => f.startsWith('lib/flows/') },
  { name: 'lib/k8s', match: (f) => f.startsWith('lib/k8s/') },
  { name: 'lib (other)', match: () => true },
];
export const OVERALL_TARGET = 70;

/** The source text a mutant replaces, and its line (trimmed): what identifies it in the triage file. */
export function originalOf(source, location) {
  const lines = source.split('\n');
  const { start, end } = location;
  const text = start.line === end.line
    ? lines[start.line - 1].slice(start.column - 1, end.column - 1)
    : [lines[start.line - 1].slice(start.column - 1), ...lines.slice(start.line, end.line - 1),
      lines[end.line - 1].slice(0, end.column - 1)].join('\n');
  return { original: text, line: lines[start.line - 1].trim() };
}

const key = (e) => JSON.stringify([e.file, e.mutator, e.line, e.original, e.replacement]);

export function scores(report, equivalent) {
  const triaged = new Map(equivalent.map((e) => [key(e), e]));
  const used = new Set();
  const rows = new Map([
    ...GROUPS.map((g) => [g.name, { killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, excluded: 0 }]),
    ['all', { killed: 0, timeout: 0, survived: 0, noCoverage: 0, equivalent: 0, excluded: 0 }],
  ]);
  const untriaged = [];
  for (const [file, data] of Object.entries(report.files)) {
    const rel = file.replace(/^.*?(?=lib\/)/, '');
    const group = GROUPS.find((g) => g.match(rel));
    for (const m of data.mutants) {
      const id = { file: rel, mutator: m.mutatorName, replacement: m.replacement,
        ...originalOf(data.source, m.location) };
      let kind;
      switch (m.status) {
        case 'Killed':
          kind = 'killed';
          break;
        case 'Timeout':
          kind = 'timeout';
          break;
        case 'Survived':
          kind = 'survived';
          break;
        case 'NoCoverage':
          kind = 'noCoverage';
          break;
        default:
          kind = 'excluded';
      }
      if (kind === 'survived' || kind === 'noCoverage') {
        if (triaged.has(key(id))) {
          used.add(key(id));
          kind = 'equivalent';
        } else if (group.target !== undefined) {
          untriaged.push({ ...id, status: m.status, at: `${rel}:${m.location.start.line}:${m.location.start.column}` });
        }
      }
      for (const r of [rows.get(group.name), rows.get('all')]) r[kind]++;
    }
  }
  const table = [...rows].map(([name, r]) => {
    const detected = r.killed + r.timeout;
    const valid = detected + r.survived + r.noCoverage;
    const score = valid === 0 ? NaN : (100 * detected) / valid;
    const target = name === 'all' ? OVERALL_TARGET : GROUPS.find((g) => g.name === name).target;
    return { name, ...r, score, target, ok: target === undefined || valid === 0 || score >= target };
  });
  const stale = equivalent.filter((e) => !used.has(key(e)));
  return { table, untriaged, stale };
}

function markdown({ table }) {
  const pct = (x) => (Number.isNaN(x) ? '-' : `${x.toFixed(1)}%`);
  const lines = [
    '| folder | score | target | killed | timeout | survived | no coverage | equivalent | not counted |',
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...table.map((r) =>
      `| ${r.name === 'all' ? '**lib/ overall**' : r.name} | ${pct(r.score)}${r.ok ? '' : ' ✗'} | ${
        r.target === undefined ? '' : `${r.target}%`
      } | ${r.killed} | ${r.timeout} | ${r.survived} | ${r.noCoverage} | ${r.equivalent} | ${r.excluded} |`
    ),
  ];
  return `${lines.join('\n')}\n`;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const report = JSON.parse(readFileSync(reportFile, 'utf8'));
  const equivalent = existsSync(equivalentFile) ? JSON.parse(readFileSync(equivalentFile, 'utf8')) : [];
  const result = scores(report, equivalent);
  const md = markdown(result);
  process.stdout.write(md);
  if (out) writeFileSync(out, md);
  if (result.untriaged.length > 0) {
    console.log(
      `\n${result.untriaged.length} surviving mutants in the folders with a target are neither killed nor listed in ${equivalentFile}:`,
    );
    for (const u of result.untriaged) {
      console.log(
        `  ${u.at} ${u.status} ${u.mutator}: ${JSON.stringify(u.original)} -> ${JSON.stringify(u.replacement)}`,
      );
    }
  }
  if (result.stale.length > 0) {
    console.log(
      `\n${result.stale.length} entries of ${equivalentFile} match no surviving mutant (killed now, or the code changed): remove or update them`,
    );
    for (const s of result.stale) {
      console.log(`  ${s.file} ${s.mutator}: ${JSON.stringify(s.original)} -> ${JSON.stringify(s.replacement)}`);
    }
  }
  const missed = result.table.filter((r) => !r.ok);
  for (const r of missed) {
    console.error(
      `mutation score of ${r.name === 'all' ? 'lib/ overall' : r.name}: ${
        r.score.toFixed(1)
      }%, below its target of ${r.target}%`,
    );
  }
  process.exit(missed.length > 0 ? 1 : 0);
}

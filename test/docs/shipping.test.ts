/**
 * The release and deployment commands the documents give (README "Releasing" and "Running it
 * across a cluster", docs/development.md "Releasing", docs/operations.md "Running it across a
 * cluster"): none is only shown. Each command of their `sh` blocks is either
 *
 * - a step of scripts/release/ci.sh, word for word, which .ci/run runs on every run (the steps
 *   take minutes and Debian roots, so they run there rather than in this suite), or
 * - run by the suite itself (a test directory it names), or
 * - listed in NOT_RUN with the reason it cannot run in CI at all.
 *
 * Their `yaml` blocks are files a reader writes: the kustomize overlay is rendered here with
 * `kubectl kustomize`, as written, and must point the DaemonSet at the image it names.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync,
  writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

import { codeBlocks, shellCommands } from './blocks.js';

const ROOT = resolve(__dirname, '..', '..');
const read = (file: string): string => readFileSync(join(ROOT, file), 'utf8');

/** The tag release:image gives the image by default; scripts/release/ci.sh names it "$TAG". */
const TAG = 'localhost/nfct-exporter:ci';

/** Commands CI cannot run, and why (each must start a command of the sections below). */
const NOT_RUN: Record<string, string> = {
  'npm publish':
    'uploads to the npm registry; CI packs the same tarball, through the same prepack, in npm run release:check',
  'podman build -f deploy/Dockerfile -t registry.example.net/':
    'pulls node:20-bookworm-slim, which no registry serves here; npm run release:image (a CI step) builds the same Dockerfile on that base made locally',
  'podman push ': "pushes to the reader's own registry; there is none here",
};

/** Commands the suite runs itself: the test directory each runs. */
const IN_SUITE: Record<string, string> = {
  'npx vitest run test/deploy/': 'test/deploy',
};

/** The part of a Markdown document under a heading, up to the next heading of its level or above. */
function section(file: string, heading: string): { file: string; heading: string; text: string } {
  const lines = read(file).split('\n');
  // A heading is a line outside code blocks (where `# ` starts a comment).
  let fenced = false;
  const isHeading = lines.map((l) => {
    if (l.startsWith('```')) fenced = !fenced;
    return !fenced && /^#{1,6} /.test(l);
  });
  const start = lines.findIndex((l, i) => isHeading[i] && l.replace(/^#+ /, '') === heading);
  if (start < 0) throw new Error(`${file}: no section "${heading}"`);
  const level = /^#+/.exec(lines[start]!)![0].length;
  let end = start + 1;
  while (end < lines.length && !(isHeading[end] && /^#+/.exec(lines[end]!)![0].length <= level)) end++;
  return { file, heading, text: lines.slice(start, end).join('\n') };
}

const SECTIONS = [
  section('README.md', 'Releasing'),
  section('README.md', 'Running it across a cluster'),
  section('docs/development.md', 'Releasing'),
  section('docs/operations.md', 'Running it across a cluster'),
];
const blocks = SECTIONS.flatMap((s) => codeBlocks(s.text).map((b) => ({ ...b, where: `${s.file} (${s.heading})` })));
const commands = blocks.filter((b) => b.lang === 'sh').flatMap((b) =>
  shellCommands(b.code).map((c) => ({ c, where: b.where }))
);

/** The commands scripts/release/ci.sh runs as steps, as the documents would write them. */
function ciSteps(): string[] {
  const out: string[] = [];
  for (const line of read('scripts/release/ci.sh').replace(/\\\n\s*/g, '').split('\n')) {
    const m = /^(?:.* \|\| )?step (?:"[^"]*"|\S+) (.+?)(?: \|\| .*)?$/.exec(line.trim());
    if (!m || line.trim().startsWith('#')) continue;
    out.push(m[1]!.replace(/^env /, '').replaceAll('"$TAG"', TAG).replace(/ "\$\{report\[@\]\}"$/, ''));
  }
  return out;
}

let dir = '';
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('release and deployment commands in the documents', () => {
  test('.ci/run runs scripts/release/ci.sh, whose steps are the release commands', () => {
    expect(read('.ci/run')).toMatch(/^NFCT_RELEASE_REPORT=\S+ bash scripts\/release\/ci\.sh /m);
    expect(ciSteps()).toEqual(
      expect.arrayContaining(['npm run release:prebuilds', 'npm run release:check', 'npm run release:image']),
    );
  });

  test('every block of these sections is commands (sh) or a file (yaml), none only shown', () => {
    expect(blocks.length).toBeGreaterThan(3);
    expect(blocks.filter((b) => !['sh', 'yaml'].includes(b.lang)).map((b) => `${b.where}: \`\`\`${b.lang}`)).toEqual(
      [],
    );
  });

  test('each command runs in CI, word for word, or in the suite, or says why it cannot', () => {
    const steps = ciSteps();
    const unaccounted = commands.filter(
      ({ c }) => !steps.includes(c) && !(c in IN_SUITE) && !Object.keys(NOT_RUN).some((k) => c.startsWith(k)),
    );
    expect(unaccounted.map(({ c, where }) => `${where}: ${c}`)).toEqual([]);
    for (const [c, path] of Object.entries(IN_SUITE)) {
      expect(commands.map((x) => x.c), c).toContain(c);
      expect(readdirSync(join(ROOT, path)).filter((f) => f.endsWith('.test.ts')).length, path).toBeGreaterThan(0);
      expect(read('vitest.config.mts'), `${path} is excluded from the suite`).not.toContain(path);
    }
  });

  test('every entry of NOT_RUN is a command of the documents, and every CI step is documented', () => {
    for (const k of Object.keys(NOT_RUN)) expect(commands.some(({ c }) => c.startsWith(k)), k).toBe(true);
    const documented = new Set(commands.map(({ c }) => c));
    expect(ciSteps().filter((s) => !s.startsWith('wait ') && !documented.has(s))).toEqual([]);
  });

  test("the README's Releasing section names the commands docs/development.md runs", () => {
    const named = [...SECTIONS[0]!.text.matchAll(/`(npm [^`]+)`/g)].map((m) => m[1]!);
    expect(named.length).toBeGreaterThan(3);
    const release = new Set(commands.filter((x) => x.where.startsWith('docs/development.md')).map((x) => x.c));
    expect(named.filter((n) => !release.has(n))).toEqual([]);
  });

  test('the overlay of docs/operations.md renders with kubectl kustomize, the DaemonSet on the image it names', () => {
    const overlay = blocks.find((b) => b.lang === 'yaml' && b.code.startsWith('# my-cluster/kustomization.yaml'));
    expect(overlay, 'the overlay block').toBeDefined();
    const image = /newName: (\S+)\n\s*newTag: (\S+)/.exec(overlay!.code);
    expect(image).not.toBeNull();
    // As the document lays it out: the overlay beside a checkout named nfct.
    dir = mkdtempSync(join(tmpdir(), 'nfct-overlay-'));
    symlinkSync(ROOT, join(dir, 'nfct'), 'dir');
    mkdirSync(join(dir, 'my-cluster'));
    writeFileSync(join(dir, 'my-cluster', 'kustomization.yaml'), `${overlay!.code}\n`);
    const r = spawnSync('kubectl', ['kustomize', 'my-cluster/'], { cwd: dir, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    const images = [...r.stdout.matchAll(/^\s*image: (\S+)$/gm)].map((m) => m[1]);
    expect(images).toEqual([`${image![1]}:${image![2]}`]);
    expect(existsSync(join(dir, 'nfct', 'deploy', 'kustomization.yaml'))).toBe(true);
  });
});

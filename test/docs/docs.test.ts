/**
 * Every code block of the documentation runs, so an example that breaks fails the build:
 * README.md, docs/*.md and bench/README.md.
 *
 * TypeScript blocks: each is type-checked (tsc --strict, node16 resolution, importing the built
 * package as '@x/nfct' exactly as a user would), then transpiled for Node 20 and run against a
 * namespace of this test's own. Names a block uses without declaring (`ct`, `flow`, `tuple`,
 * `flows`, ...) come from a prelude that makes them real: a handle on the namespace, entries in
 * its table. 'my-pod-ns' is that namespace. A block that reads a stream (events, NFLOG, TRACE)
 * passes when it is still running, without an error, after a few seconds.
 *
 * Shell blocks: each command runs inside the namespace, from the root of this tree, `nfct`
 * being its CLI; commands that follow a stream likewise. The few commands that cannot run here
 * are listed in SKIPPED with the reason, and each entry there must match a command of a
 * document. `yaml` blocks (configuration files) must parse; `text` blocks are transcripts and
 * formats, shown and not run. Links to files of the tree must find the file and the heading.
 * The release and deployment commands (README "Releasing", "Running it across a cluster", and
 * the docs/ sections they point to) are held to what CI runs by test/docs/shipping.test.ts.
 */
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync,
  writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse as parseYaml } from 'yaml';

import { createNetns, type Netns } from '../helpers/netns.js';
import { NFCT_SHELL } from '../helpers/nfct.js';
import { checkOutput } from '../helpers/schema.js';
import { type Block, codeBlocks, declares, headingAnchors, localLinks, shellCommands, uses } from './blocks.js';

const ROOT = resolve(__dirname, '..', '..');
/** The documents whose blocks run, in this order. */
const DOCS = ['README.md', 'docs/api.md', 'docs/cli.md', 'docs/operations.md', 'docs/development.md',
  'docs/architecture.md', 'docs/reliability.md', 'docs/release-check.md', 'bench/README.md'];
const blocks = DOCS.flatMap((file) => codeBlocks(readFileSync(join(ROOT, file), 'utf8')).map((b) => ({ ...b, file })));
const tsBlocks = blocks.filter((b) => b.lang === 'ts');
const shBlocks = blocks.filter((b) => b.lang === 'sh');
const STREAM_MS = 3000;

/** Commands the documents show that this test does not run, and why. */
const SKIPPED: Record<string, string> = {
  'bash scripts/test.sh': 'the whole test suite, of which this test is a part',
  'bash scripts/setup.sh': 'CI runs it first (.ci/run, scripts/test.sh)',
  'npm run bench': 'minutes of load on a shared machine; its figures are in bench/README.md',
  'npm run test:asan': 'CI runs the memory checks itself (.ci/run)',
  'bash scripts/valgrind.sh': 'CI runs the memory checks itself (.ci/run)',
  'node bench/soak.mjs': 'twenty minutes',
  'npm install @x/nfct': 'installs from the registry; test/core/package.test.ts installs the packed tarball',
  'apt-get install': 'installs system packages; scripts/setup.sh does that in CI',
  'kill %1': 'the block runs its commands one by one, the service bounded by this test',
  'nfct log --group 5 --all-netns':
    'binds group 5 in every namespace of the machine, where other tests bind theirs; test/cli/all-netns-log.test.ts runs it with a group of its own',
  'npm run lint': 'minutes of type-checked linting over the whole tree; it is a step of its own, not a test',
  'npm run format': 'rewrites the files of this tree in place',
  'bash scripts/tidy.sh': 'rewrites the files of this tree in place',
  'npm run test:mutation':
    'mutation testing: hours over lib/, minutes for one file; CI scores the committed results (.ci/run)',
  'bash scripts/undocumented.sh': 'rewrites scripts/lint-undocumented.txt',
  'ip netns add nfct-bench-x':
    "the by-hand benchmark runs in this test's own namespace instead (nfct-bench-x is replaced by its name)",
  'ip netns del nfct-bench-x': "the namespace is this test's, removed when it ends",
  // The release and deployment commands: test/docs/shipping.test.ts holds each to a step CI runs
  // (scripts/release/ci.sh), a test folder of the suite, or the reason it cannot run at all.
  'npm run release:': 'a release step: CI runs it (scripts/release/ci.sh), held to it by test/docs/shipping.test.ts',
  'npm publish': 'uploads to the registry; test/docs/shipping.test.ts says what CI proves instead',
  'podman build -f deploy/Dockerfile':
    'pulls node:20-bookworm-slim, which no registry serves here; CI builds the same Dockerfile (npm run release:image)',
  'podman push ': "pushes to the reader's own registry; there is none here",
  'npx vitest run test/deploy/': 'the suite runs test/deploy itself',
  'NFCT_IMAGE=localhost/nfct-exporter:ci npx vitest run --config vitest.release.config.mts':
    'a release step: CI runs it after building the image (scripts/release/ci.sh)',
  'npm install-scripts approve @x/nfct':
    "changes the installing project's package.json; test/core/package-no-scripts.test.ts installs the package without its script and uses it",
  'npm rebuild @x/nfct': 'compiles the addon in an installing project; CI builds it from this tree (scripts/setup.sh)',
};

/** The names blocks use freely: type for the type-check, value for the run. */
const FREE: { name: string; type: string; value: string }[] = [
  { name: 'ct', type: '__nfct.Conntrack', value: '__ct' },
  { name: 'flow', type: '__nfct.Flow', value: '(await __ct.list({ mark: 100 }).toArray())[0]!' },
  { name: 'tuple', type: '__nfct.TupleInput',
    value: "{ protocol: 'tcp', src: '10.2.0.1', dst: '10.2.0.2', srcPort: 1, dstPort: 2 }" },
  {
    name: 'flows',
    type: '__nfct.FlowInput[]',
    value:
      "[1, 2, 3].map((n) => ({ protocol: 'udp', src: '10.5.0.1', dst: '10.5.0.2', srcPort: n, dstPort: 53, timeout: 60 }) as const)",
  },
  { name: 'src', type: 'string', value: "'10.4.0.1'" },
  { name: 'dst', type: 'string', value: "'10.4.0.2'" },
  { name: 'handle', type: '(batch: __nfct.Flow[]) => void', value: '(batch) => void batch' },
  { name: 'rebuild', type: '(flows: __nfct.Flow[]) => void', value: '(flows) => void flows' },
  { name: 'parseSave', type: 'typeof __nfct.parseSave', value: '__nfct.parseSave' },
];

function prelude(code: string, mode: 'types' | 'run', ns: string): string {
  const free = FREE.filter((f) => uses(code, f.name) && !declares(code, f.name));
  const lines = ["import * as __nfct from '@x/nfct';"];
  if (mode === 'types') {
    for (const f of free) lines.push(`declare const ${f.name}: ${f.type};`);
    if (uses(code, 'CreateManyStop')) lines.push('type CreateManyStop = __nfct.CreateManyStop;');
    return lines.join('\n');
  }
  lines.push(
    `const __ct = await __nfct.Conntrack.open({ netns: ${JSON.stringify(ns)} });`,
    "await __ct.flush(); await __ct.flush({ family: 'ipv6' });",
    "await __ct.create({ protocol: 'tcp', src: '10.3.0.1', dst: '10.3.0.2', srcPort: 1000, dstPort: 80, timeout: 300, mark: 100, state: 'ESTABLISHED' });",
    "await __ct.create({ protocol: 'tcp', src: '10.2.0.1', dst: '10.2.0.2', srcPort: 1, dstPort: 2, timeout: 300, state: 'ESTABLISHED' });",
    "await __ct.create({ protocol: 'udp', src: '10.0.0.1', dst: '10.0.0.9', srcPort: 5000, dstPort: 53, timeout: 300 });",
    'process.on("exit", () => __ct.close());',
  );
  for (const f of free) lines.push(`const ${f.name}: ${f.type} = ${f.value};`);
  return lines.join('\n');
}

const where = (b: Block & { file: string }): string => `${b.file}:${b.line} (${b.heading})`;
const isStream = (code: string): boolean =>
  /for await[^\n]*\.(events|subscribe|packets|follow)\(|(using|const) \w+ = \w+\.events\(|\.flows\(|serveExporter\(|\.listen\(/
    .test(code);

let ns: Netns;
let dir = '';
let bin = '';

beforeAll(async () => {
  ns = await createNetns('nfct-docs', { labels: true });
  dir = mkdtempSync(join(tmpdir(), 'nfct-docs-'));
  // '@x/nfct' is this tree, through its package.json "exports", as installed.
  mkdirSync(join(dir, 'node_modules', '@x'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', '@x', 'nfct'), 'dir');
  bin = join(dir, 'bin');
  mkdirSync(bin);
  // nfct as the README's commands call it; a copy of what it prints goes to CAPTURE, whose JSON
  // lines each shell block's test checks against schema/*.json.
  writeFileSync(join(bin, 'nfct'),
    `#!/bin/bash\nset -o pipefail\n${NFCT_SHELL} "$@" | tee -p -a ${join(dir, 'capture')}\n`);
  chmodSync(join(bin, 'nfct'), 0o755);
});
afterAll(async () => {
  await ns?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Still running at the deadline (then killed). */
  running: boolean;
}

/** Runs a command to its end, or until `ms` for a stream (then stops it). */
function runFor(cmd: string, args: string[], cwd: string, ms: number, stream: boolean): Promise<Outcome> {
  return new Promise((done, fail) => {
    // A process group of its own, so that the whole pipeline stops at the deadline.
    const child = spawn(cmd, args, {
      cwd,
      detached: true,
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}` },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let running = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      running = true;
      process.kill(-child.pid!, 'SIGTERM');
    }, ms);
    child.on('error', fail);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (running && !stream) {
        fail(new Error(`${cmd} ${args.join(' ')}: still running after ${ms} ms\n${stdout}\n${stderr}`));
      }
      done({ code, stdout, stderr, running });
    });
  });
}

describe('the documentation', () => {
  test('every code block is labelled ts, sh, yaml (a file to copy) or text (a transcript shown, not run)', () => {
    expect(blocks.filter((b) => !['ts', 'sh', 'yaml', 'text'].includes(b.lang)).map(where)).toEqual([]);
    expect(tsBlocks.length).toBeGreaterThan(5);
  });

  test('every yaml block is YAML (the files it shows parse)', () => {
    for (const b of blocks.filter((x) => x.lang === 'yaml')) expect(() => parseYaml(b.code), where(b)).not.toThrow();
  });

  test('every link to a file of this tree finds the file, and the heading it names', () => {
    const broken: string[] = [];
    let count = 0;
    for (const file of [...DOCS, 'CHANGELOG.md', 'CONTRIBUTING.md']) {
      for (const { path, anchor } of localLinks(readFileSync(join(ROOT, file), 'utf8'))) {
        count++;
        const target = path ? join(dirname(join(ROOT, file)), path) : join(ROOT, file);
        if (!existsSync(target)) broken.push(`${file}: ${path}: no such file`);
        else if (anchor && target.endsWith('.md') && !headingAnchors(readFileSync(target, 'utf8')).has(anchor)) {
          broken.push(`${file}: ${path}#${anchor}: no such heading`);
        }
      }
    }
    expect(broken).toEqual([]);
    expect(count).toBeGreaterThan(20);
  });

  test('every skipped command is in a document', () => {
    const commands = shBlocks.flatMap((b) => shellCommands(b.code));
    for (const skipped of Object.keys(SKIPPED)) expect(commands.some((c) => c.startsWith(skipped)), skipped).toBe(true);
  });

  test('the TypeScript blocks type-check (strict, node16, the built package)', () => {
    const files = tsBlocks.map((b, i) => {
      const file = join(dir, `check-${i}.mts`);
      writeFileSync(file, `${prelude(b.code, 'types', ns.name)}\n${b.code}\nexport {};\n`);
      return { file, b };
    });
    const r = spawnSync(
      process.execPath,
      [
        join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
        ...['--noEmit', '--strict', '--module', 'node16', '--moduleResolution', 'node16', '--target', 'es2022'],
        ...['--lib', 'es2022,esnext.disposable', '--typeRoots', join(ROOT, 'node_modules', '@types'), '--types',
          'node'],
        ...files.map((f) => f.file),
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    // Name the document and block of each error.
    const errors = r.stdout.replace(/check-(\d+)\.mts\((\d+),\d+\)/g, (_m, i: string, line: string) => {
      const b = files[Number(i)]!.b;
      return `${where(b)} +${Number(line) - prelude(b.code, 'types', ns.name).split('\n').length}`;
    });
    expect(errors).toBe('');
  }, 120_000);

  for (const [i, b] of tsBlocks.entries()) {
    test(`runs ${where(b)}`, async () => {
      const code = b.code.replaceAll('my-pod-ns', ns.name);
      const source = `${prelude(code, 'run', ns.name)}\n${code}\nexport {};\n`;
      const js = ts.transpileModule(source, {
        compilerOptions: { target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext },
      }).outputText;
      const file = join(dir, `run-${i}.mjs`);
      writeFileSync(file, js);
      const stream = isStream(code);
      const out = await runFor(process.execPath, [file], dir, stream ? STREAM_MS : 30_000, stream);
      if (stream) expect(out.running, `${where(b)} ended: ${out.stderr}`).toBe(true);
      else expect(out.code, `${where(b)}:\n${out.stderr}`).toBe(0);
      expect(out.stderr).not.toMatch(/Error|error:/);
    }, 60_000);
  }

  for (const b of shBlocks) {
    test(`runs ${where(b)}`, async () => {
      writeFileSync(join(dir, 'capture'), '');
      const sleeper = spawn('ip', ['netns', 'exec', ns.name, 'sleep', '60'], { stdio: 'ignore' });
      try {
        for (const line of shellCommands(b.code)) {
          if (Object.keys(SKIPPED).some((s) => line.startsWith(s))) continue;
          const cmd = line.replaceAll('my-pod-ns', ns.name).replaceAll('nfct-bench-x', ns.name).replaceAll('--pid 4242',
            `--pid ${sleeper.pid}`);
          await ns.execOk('conntrack', ['-I', '-p', 'udp', '-s', '10.244.1.5', '-d', '10.0.0.2', '--sport', '53',
            '--dport', '53', '-t', '60']).catch(() => undefined);
          const stream = /\bnfct (-E|log|trace|top|exporter)\b|&$/.test(cmd);
          const out = await runFor('ip', ['netns', 'exec', ns.name, 'sh', '-c', cmd], ROOT, stream ? STREAM_MS : 90_000,
            stream);
          if (stream) expect(out.running, `${cmd} ended: ${out.stderr}`).toBe(true);
          else if (/\bnfct doctor\b.*--all-netns/.test(cmd)) {
            // Every namespace of the node, other tests' among them: exit status 1 is an error
            // found in one of those (what doctor is for), not a failure of the command.
            expect(out.code, `${cmd}:\n${out.stderr}`).toBeLessThanOrEqual(1);
            expect(out.stderr).toMatch(/nfct doctor: \d+ namespaces? examined/);
          } else expect(out.code, `${cmd}:\n${out.stderr}`).toBe(0);
        }
        // What nfct printed in this block keeps to the NDJSON contract.
        checkOutput(readFileSync(join(dir, 'capture'), 'utf8'), false, where(b));
      } finally {
        sleeper.kill();
      }
    }, 180_000);
  }
});

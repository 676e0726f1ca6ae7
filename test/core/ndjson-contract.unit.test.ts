// The NDJSON contract itself: the schemas compile strictly, every line type has its schema,
// lines recorded under a schema's version still validate while that version stands (so a
// change that would refuse them must bump it), broken lines are refused, the package ships
// and exports the schemas, and every test that runs nfct goes through the helpers that
// validate its output.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';

import { describe, expect, test } from 'vitest';

import { schemaVersions } from '../../lib/cli/ndjson.js';
import { checkLine, SCHEMA_DIR, schemaFiles, schemaValidator } from '../helpers/schema.js';
import { runNfct } from '../support/run-nfct.js';

const ROOT = join(__dirname, '..', '..');
const FIXTURES = join(ROOT, 'test', 'fixtures', 'ndjson');
const ID = /^https:\/\/github\.com\/x\/nfct\/schema\/v(\d+)\/([a-z-]+)\.json$/;

/** The values `type` may take in a schema: its const, its enum, or those of its if/then arms. */
function typesOf(schema: Record<string, unknown>): string[] {
  const t = (schema.properties as Record<string, { const?: string; enum?: string[] }> | undefined)?.type;
  return t?.const !== undefined ? [t.const] : (t?.enum ?? []);
}

describe('schema/*.json', () => {
  const files = schemaFiles();

  test('each compiles under strict ajv, its $id names its file and version', () => {
    const { ajv } = schemaValidator();
    expect(files.size).toBeGreaterThan(5);
    for (const [name, s] of files) {
      const m = ID.exec(s.$id);
      expect(m, s.$id).not.toBeNull();
      expect(m![2]).toBe(name);
      expect(ajv.getSchema(s.$id), name).toBeDefined();
    }
  });

  test('nfct.json sends every type to the schema that has it, and knows no other', () => {
    const any = files.get('nfct')!;
    const dispatched = new Map<string, string>();
    for (const arm of any.allOf as { if: { properties: { type: { const?: string; enum?: string[] } } };
      then: { $ref: string } }[])
    {
      const t = arm.if.properties.type;
      for (const type of t.const !== undefined ? [t.const] : t.enum!) dispatched.set(type, ID.exec(arm.then.$ref)![2]!);
    }
    const declared = new Map<string, string>();
    for (const [name, s] of files) {
      if (name !== 'nfct' && name !== 'common') { for (const type of typesOf(s)) declared.set(type, name); }
    }
    expect(Object.fromEntries(dispatched)).toEqual(Object.fromEntries(declared));
    expect((any.properties as { type: { enum: string[] } }).type.enum.sort()).toEqual([...declared.keys()].sort());
  });

  test('schemaVersions() (what -V --json reports) reads the versions of the files', () => {
    const expected = Object.fromEntries([...files].map(([name, s]) => [name, Number(ID.exec(s.$id)![1])]));
    expect(schemaVersions()).toEqual(expected);
  });

  test('nfct -V --json says the same', async () => {
    const r = await runNfct(['-V', '--json']);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.stdout) as { schemas: unknown }).schemas).toEqual(schemaVersions());
  });

  test('the package ships the schemas and exports them', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { files: string[];
      exports: Record<string, unknown> };
    expect(pkg.files).toContain('schema/');
    expect(pkg.exports['./schema/*.json']).toBe('./schema/*.json');
  });
});

/** Recorded lines, test/fixtures/ndjson/NAME-vN.ndjson: lines nfct wrote under version N of schema NAME. */
function fixtures(): { name: string; version: number; file: string; lines: string[] }[] {
  return readdirSync(FIXTURES)
    .map((f) => /^([a-z-]+)-v(\d+)\.ndjson$/.exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => ({ name: m[1]!, version: Number(m[2]), file: m[0],
      lines: readFileSync(join(FIXTURES, m[0]), 'utf8').split('\n').filter(Boolean) })
    );
}

describe('recorded lines (test/fixtures/ndjson)', () => {
  const versions = schemaVersions();
  const all = fixtures();

  test('every schema has recorded lines of its current version', () => {
    for (const name of Object.keys(versions).filter((n) => n !== 'nfct' && n !== 'common')) {
      expect(all.some((f) => f.name === name && f.version === versions[name]), `${name}-v${versions[name]}.ndjson`)
        .toBe(true);
    }
  });

  test.each(fixtures().map((f) => [f.file, f] as const))('%s: valid while its version stands', (_file, f) => {
    // A schema whose version was bumped no longer has to take the lines of the old one.
    if (versions[f.name] !== f.version) return;
    expect(f.lines.length).toBeGreaterThan(0);
    for (const l of f.lines) checkLine(l, f.file);
  });

  test('a line without time, with an unknown field or a field of the wrong type is refused', () => {
    let refused = 0;
    for (const f of all.filter((x) => versions[x.name] === x.version)) {
      for (const l of f.lines) {
        const o = JSON.parse(l) as Record<string, unknown>;
        const { time: _t, ...noTime } = o;
        for (const bad of [noTime, { ...o, unknownField: 1 }, { ...o, time: 5 }, { ...o, type: 'no-such-type' }]) {
          expect(() => checkLine(JSON.stringify(bad), f.file)).toThrow(/breaks schema/);
          refused++;
        }
      }
    }
    expect(refused).toBeGreaterThan(40);
  });
});

describe('tests run nfct only through the validating helpers', () => {
  /** Files that may name the CLI's entry point, and why. */
  const ALLOWED: Record<string, string> = {
    'test/helpers/nfct.ts': 'the helper: validates what nfct prints',
    'test/support/run-nfct.ts': 'the in-process helper: validates what nfct prints',
    'test/core/ndjson-contract.unit.test.ts': 'this test',
    'test/support/bundle.ts': 'builds the bundled CLI test/cli/no-privilege.test.ts runs, which checks its output',
    'test/deploy/alerts-prometheus.test.ts':
      'nfct exporter as a process of its own for Prometheus to scrape: it prints no NDJSON',
    'test/exporter/loss.test.ts': 'nfct exporter stopped with SIGSTOP, so a process of its own: it prints no NDJSON',
    'test/mutation/setup.ts': 'names the path in a comment only',
  };
  const PATTERNS = [/dist\/cli\/main\.js/, /'dist',\s*'cli',\s*'main\.js'/, /lib\/cli\/main\.js/];

  function walk(dir: string): string[] {
    return readdirSync(dir).flatMap((f) => {
      const p = join(dir, f);
      return statSync(p).isDirectory() ? walk(p) : /\.(ts|mts|cts|js|mjs|cjs)$/.test(f) ? [p] : [];
    });
  }

  test('no test file starts dist/cli/main.js or imports lib/cli/main.js itself', () => {
    const offenders = walk(join(ROOT, 'test'))
      .map((p) => relative(ROOT, p))
      .filter((p) => !(p in ALLOWED))
      .filter((p) => PATTERNS.some((re) => re.test(readFileSync(join(ROOT, p), 'utf8'))));
    expect(offenders).toEqual([]);
  });

  test('the schema directory is where the helper reads it', () => {
    expect(statSync(SCHEMA_DIR).isDirectory()).toBe(true);
  });
});

/**
 * The published types, as a user meets them: the built declarations (dist/, what `npm pack`
 * ships), imported as '@x/nfct' from a project of its own.
 *
 * - consumer.mts compiles under tsc --strict, and each of its `@ts-expect-error` lines is an
 *   error (tsc reports a directive whose line compiles).
 * - The examples (examples/*.mjs, examples/pod-trace/pod-trace.mjs) type-check as they are
 *   (checkJs, strict): what they show is what the types allow.
 * - The declarations hold no `@internal` member and name no private field.
 * - Every parameter of every public function and method is a named type the package exports:
 *   no inline object type a user cannot name.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync,
  symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

const ROOT = resolve(__dirname, '..', '..');
const DIST = join(ROOT, 'dist');
const TSC = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');

const walk = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((
    d,
  ) => (d.isDirectory() ? walk(join(dir, d.name)) : [join(dir, d.name)]));

/** dist/ must be what lib/ compiles to now: a stale build would test old types. */
function assertBuilt(): void {
  const built = join(DIST, 'index.d.ts');
  if (!existsSync(built)) throw new Error('dist/ is missing: run `npm run build:ts` (scripts/setup.sh does)');
  const newest = Math.max(...walk(join(ROOT, 'lib')).map((f) => statSync(f).mtimeMs));
  if (statSync(built).mtimeMs < newest) {
    throw new Error('dist/ is older than lib/: run `npm run build:ts` (scripts/setup.sh does)');
  }
}

function tsc(files: string[], cwd: string, extra: string[] = []): string {
  const r = spawnSync(
    process.execPath,
    [
      TSC,
      ...['--noEmit', '--strict', '--noUncheckedIndexedAccess', '--module', 'node16', '--moduleResolution', 'node16',
        '--target', 'es2022'],
      ...['--lib', 'es2022,esnext.disposable', '--typeRoots', join(ROOT, 'node_modules', '@types'), '--types', 'node'],
      ...extra,
      ...files,
    ],
    { cwd, encoding: 'utf8' },
  );
  return `${r.stdout}${r.stderr}`.trim();
}

let dir = '';
beforeAll(() => {
  assertBuilt();
  dir = mkdtempSync(join(tmpdir(), 'nfct-types-'));
  // '@x/nfct' is this tree through its package.json "exports", as installed.
  mkdirSync(join(dir, 'node_modules', '@x'), { recursive: true });
  symlinkSync(ROOT, join(dir, 'node_modules', '@x', 'nfct'), 'dir');
});
afterAll(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('the published types', () => {
  test('consumer.mts compiles, and every line it marks @ts-expect-error is refused', () => {
    cpSync(join(__dirname, 'consumer.mts'), join(dir, 'consumer.mts'));
    const expected = readFileSync(join(__dirname, 'consumer.mts'), 'utf8').match(/@ts-expect-error/g) ?? [];
    expect(expected.length).toBeGreaterThanOrEqual(10);
    expect(tsc(['consumer.mts'], dir)).toBe('');
  }, 120_000);

  test('the examples type-check as they are (checkJs, strict)', () => {
    const examples = join(ROOT, 'examples');
    const files = [
      ...readdirSync(examples).filter((f) => f.endsWith('.mjs')),
      ...readdirSync(join(examples, 'pod-trace')).filter((f) => f.endsWith('.mjs')).map((f) => join('pod-trace', f)),
    ];
    expect(files.length).toBeGreaterThanOrEqual(3);
    for (const f of files) {
      expect(readFileSync(join(examples, f), 'utf8'), `${f} asks to be checked`).toMatch(/^(#!.*\n)?\/\/ @ts-check\n/);
      mkdirSync(join(dir, 'examples', 'pod-trace'), { recursive: true });
      cpSync(join(examples, f), join(dir, 'examples', f));
    }
    expect(tsc(files.map((f) => join('examples', f)), dir, ['--allowJs', '--checkJs'])).toBe('');
  }, 120_000);

  test('no @internal member and no private field in the declarations a user can reach', () => {
    const program = ts.createProgram([join(DIST, 'index.d.ts')], { strict: true, module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16, types: [] });
    const reachable = program.getSourceFiles().filter((f) => f.fileName.startsWith(`${DIST}/`));
    expect(reachable.length).toBeGreaterThan(10);
    const problems: string[] = [];
    for (const file of reachable) {
      file.text.split('\n').forEach((line, i) => {
        if (/@internal\b/.test(line)) problems.push(`${relative(ROOT, file.fileName)}:${i + 1}: ${line.trim()}`);
        if (/^\s*private\s+(?!constructor\b)/.test(line)) {
          problems.push(`${relative(ROOT, file.fileName)}:${i + 1}: ${line.trim()}`);
        }
      });
    }
    expect(problems).toEqual([]);
  });

  test('every parameter of a public function or method is a named type the package exports', () => {
    const program = ts.createProgram([join(DIST, 'index.d.ts')], { strict: true, module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16, types: [] });
    const checker = program.getTypeChecker();
    const index = program.getSourceFile(join(DIST, 'index.d.ts'))!;
    const moduleSymbol = checker.getSymbolAtLocation(index)!;
    const exported = new Set(checker.getExportsOfModule(moduleSymbol).map((s) => s.name));
    const problems: string[] = [];
    /** A parameter's type is fine when every part of it is a keyword, a literal, a function or a named export. */
    let typeParams = new Set<string>();
    const check = (where: string, node: ts.TypeNode | undefined): void => {
      if (!node) return;
      if (ts.isTypeLiteralNode(node) || ts.isMappedTypeNode(node)) {
        problems.push(`${where}: an inline object type (${node.getText()})`);
      } else if (ts.isTypeReferenceNode(node)) {
        const name = node.typeName.getText();
        const global = ['Promise', 'Array', 'ReadonlyArray', 'Iterable', 'AsyncIterable', 'AbortSignal', 'Buffer',
          'Uint8Array', 'Record', 'Partial', 'Readonly', 'Pick', 'Omit', 'Lowercase', 'Map', 'Set', 'ReadonlyMap',
          'ReadonlySet', 'NodeJS.Signals'].includes(name);
        if (!global && !exported.has(name) && !typeParams.has(name)) problems.push(`${where}: ${name} is not exported`);
        node.typeArguments?.forEach((a) => check(where, a));
      } else if (ts.isUnionTypeNode(node) || ts.isIntersectionTypeNode(node)) {
        node.types.forEach((t) => check(where, t));
      } else if (ts.isArrayTypeNode(node)) {
        check(where, node.elementType);
      } else if (ts.isTypeOperatorNode(node)) {
        check(where, node.type);
      }
    };
    for (const sym of checker.getExportsOfModule(moduleSymbol)) {
      const target = sym.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(sym) : sym;
      for (const fn of target.declarations?.filter(ts.isFunctionDeclaration) ?? []) {
        typeParams = new Set(fn.typeParameters?.map((t) => t.name.text));
        for (const p of fn.parameters) check(`${sym.name}(${p.name.getText()})`, p.type);
      }
      const decl = target.declarations?.find(ts.isClassDeclaration);
      if (!decl) continue;
      for (const member of decl.members) {
        if (!ts.isMethodDeclaration(member) && !ts.isConstructorDeclaration(member)) continue;
        const mods = ts.getCombinedModifierFlags(member);
        if (mods & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) continue;
        const name = ts.isConstructorDeclaration(member) ? 'constructor' : member.name.getText();
        typeParams = new Set(
          [...(decl.typeParameters ?? []), ...(member.typeParameters ?? [])].map((t) => t.name.text),
        );
        for (const p of member.parameters) check(`${sym.name}.${name}(${p.name.getText()})`, p.type);
      }
    }
    expect(problems).toEqual([]);
  });
});

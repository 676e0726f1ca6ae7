// The NDJSON contract, checked: every JSON line a test gets from nfct is validated against the
// package's own JSON Schemas (schema/*.json) with ajv, by the helpers that run nfct
// (test/helpers/nfct.ts, test/support/run-nfct.ts, test/helpers/output.ts). A line that does
// not validate fails the test with the line and ajv's reasons.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

import addFormats from 'ajv-formats';
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020.js';

export const SCHEMA_DIR = join(__dirname, '..', '..', 'schema');

/** Every schema file of the package, parsed, by file name without `.json`. */
export function schemaFiles(): Map<string, { $id: string } & Record<string, unknown>> {
  const out = new Map<string, { $id: string } & Record<string, unknown>>();
  for (const f of readdirSync(SCHEMA_DIR).filter((n) => n.endsWith('.json')).sort()) {
    out.set(f.slice(0, -5), JSON.parse(readFileSync(join(SCHEMA_DIR, f), 'utf8')) as { $id: string });
  }
  return out;
}

let compiled: { any: ValidateFunction; ajv: Ajv2020 } | undefined;

/** An ajv instance holding every schema (strict: a schema ajv cannot fully read is an error). */
export function schemaValidator(): { any: ValidateFunction; ajv: Ajv2020 } {
  if (compiled) return compiled;
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, allowUnionTypes: true });
  addFormats(ajv);
  const files = schemaFiles();
  for (const s of files.values()) ajv.addSchema(s);
  const any = ajv.getSchema(files.get('nfct')!.$id);
  if (!any) throw new Error('schema/nfct.json did not compile');
  compiled = { any, ajv };
  return compiled;
}

function describe(errors: ErrorObject[] | null | undefined): string {
  // The reasons that point inside the line; ajv's "must match then schema" wrappers add nothing.
  const useful = (errors ?? []).filter((e) => e.keyword !== 'if');
  return useful.map((e) =>
    `  ${e.instancePath || '/'} ${e.message}${
      e.params && Object.keys(e.params).length ? ` ${JSON.stringify(e.params)}` : ''
    }`
  ).join('\n');
}

/** Thrown for a line that breaks the contract. */
export class SchemaViolation extends Error {}

/** Parses one NDJSON line and validates it against schema/nfct.json; throws SchemaViolation. */
export function checkLine(line: string, where = 'nfct'): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (e) {
    throw new SchemaViolation(`${where}: a line that is not JSON: ${line.slice(0, 300)} (${(e as Error).message})`);
  }
  const twice = repeatedKey(line);
  if (twice !== undefined) {
    throw new SchemaViolation(`${where}: a line with the key "${twice}" twice in one object: ${line.slice(0, 300)}`);
  }
  const { any } = schemaValidator();
  if (!any(value)) {
    throw new SchemaViolation(
      `${where}: a line that breaks schema/*.json:\n${line.slice(0, 2000)}\n${describe(any.errors)}`,
    );
  }
  return value as Record<string, unknown>;
}

/**
 * A key that one object of a JSON text has twice (JSON.parse keeps the last and says nothing),
 * or undefined. The text is valid JSON.
 */
function repeatedKey(text: string): string | undefined {
  const objects: (Set<string> | undefined)[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') objects.push(new Set());
    else if (c === '[') objects.push(undefined);
    else if (c === '}' || c === ']') objects.pop();
    else if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      const keys = objects.at(-1);
      let next = end + 1;
      while (text[next] === ' ') next++;
      if (keys && text[next] === ':') {
        const key = text.slice(i + 1, end);
        if (keys.has(key)) return key;
        keys.add(key);
      }
      i = end;
    }
  }
  return undefined;
}

/**
 * Validates the JSON lines of a command's stdout: with `json` (the command was given --json)
 * every non-empty line must be one; otherwise the lines that start with `{` (text output has
 * none). Returns the parsed lines.
 */
export function checkOutput(stdout: string, json: boolean, where = 'nfct'): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const line of stdout.split('\n')) {
    if (line === '') continue;
    if (!json && !line.startsWith('{')) continue;
    out.push(checkLine(line, where));
  }
  return out;
}

/** Whether a command line asks for NDJSON. */
export function wantsJson(argv: readonly string[]): boolean {
  return argv.includes('--json');
}

// The code blocks of a Markdown file, and what the doc tests need to run one: the names a
// TypeScript block uses without declaring (given by a prelude), and the shell lines of a block.

export interface Block {
  lang: string;
  code: string;
  /** 1-based line of the opening fence. */
  line: number;
  /** The nearest heading above. */
  heading: string;
}

export function codeBlocks(markdown: string): Block[] {
  const lines = markdown.split('\n');
  const out: Block[] = [];
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    if (/^#{1,6} /.test(l)) heading = l.replace(/^#+ /, '');
    const open = /^```(\w*)\s*$/.exec(l);
    if (!open) continue;
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length && !/^```\s*$/.test(lines[i]!); i++) body.push(lines[i]!);
    out.push({ lang: open[1] ?? '', code: body.join('\n'), line: start + 1, heading });
  }
  return out;
}

/** Whether a block declares `name` itself (const/let/var/using, a for-of binding, a function). */
export function declares(code: string, name: string): boolean {
  return new RegExp(
    `\\b(?:const|let|var|using|function)\\s+(?:\\{[^}]*\\b${name}\\b[^}]*\\}|\\[[^\\]]*\\b${name}\\b[^\\]]*\\]|${name}\\b)`,
  ).test(code);
}

/** Whether a block mentions `name` as an identifier (not as a property or an object key). */
export function uses(code: string, name: string): boolean {
  return new RegExp(`(?<![.\\w'"])${name}\\b(?!\\s*:(?!:))`).test(code.replace(/\/\/.*$/gm, ''));
}

/** The commands of a shell block: one per line, comments and blank lines left out. */
export function shellCommands(code: string): string[] {
  return code
    .split('\n')
    .map((l) => l.replace(/\s+#\s.*$/, '').trim())
    .filter((l) => l && !l.startsWith('#'));
}

/** The Markdown text without its code blocks (where a `#` line is not a heading). */
function withoutBlocks(markdown: string): string {
  return markdown.replace(/^```[^\n]*\n[\s\S]*?^```\s*$/gm, '');
}

/** The links of a document to other files of the tree (or to itself): `[text](path#anchor)`. */
export function localLinks(markdown: string): { path: string; anchor: string }[] {
  const out: { path: string; anchor: string }[] = [];
  for (const m of withoutBlocks(markdown).replace(/`[^`\n]*`/g, '').matchAll(/\]\(([^)\s]+)\)/g)) {
    const target = m[1]!;
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue;
    const [path = '', anchor = ''] = target.split('#');
    out.push({ path, anchor });
  }
  return out;
}

/** The anchors GitHub makes for a document's headings (`## The exporter` is #the-exporter). */
export function headingAnchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const m of withoutBlocks(markdown).matchAll(/^#{1,6}\s+(.*)$/gm)) {
    const slug = m[1]!.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n ? `${slug}-${n}` : slug);
  }
  return out;
}

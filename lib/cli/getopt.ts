// A command-line scanner with the rules conntrack's users rely on: long options may be
// abbreviated to any unique prefix, `--name=value` and `--name value` are the same, short
// options group (`-zL`) and take attached values (`-s1.1.1.1`), words that are not options are
// skipped, `--` ends the options, and options may be added while scanning (protocol options
// become known once `-p` has been read). An unknown option or a missing value is reported with
// the word glibc's getopt leaves at argv[optind - 1], which conntrack prints (see `culprit`).

export interface LongOption {
  name: string;
  /** 0: none, 1: required, 2: optional (only as `--name=value`). */
  arg: 0 | 1 | 2;
  /** What the scanner reports for it (short options report their letter). */
  key: string;
  /** One of nfct's own options (not conntrack's): an abbreviation goes to conntrack's first. */
  own?: boolean;
}

export type ScanItem =
  | { kind: 'option'; key: string; value: string | undefined; text: string }
  | { kind: 'missing'; text: string }
  /** `text`: the word conntrack names in its message (see Scanner's `culprit`). */
  | { kind: 'unknown'; text: string };

export class Scanner {
  private i = 0;
  /** The word of grouped short options being read, where in it, and its index in argv. */
  private group: { text: string; at: number; index: number } | undefined;
  /** The last word skipped as not an option (glibc moves these before the next option). */
  private stray: string | undefined;
  readonly longs: LongOption[];

  constructor(
    private readonly argv: readonly string[],
    /** Short letters: `x` none, `x:` required, `x::` optional (attached only). */
    private readonly shorts: Record<string, 0 | 1 | 2>,
    longs: readonly LongOption[],
    /** What stands for argv[0] (conntrack's own name in its messages). */
    private readonly program = 'nfct',
  ) {
    this.longs = [...longs];
  }

  /**
   * The word before the one being read, as glibc's getopt has argv then: it moves the words it
   * skipped (not options) to just before the word it reads, so the last of them when there is
   * one, else the word before, else the program. conntrack names it for an unknown letter
   * inside a group (`-xq`: getopt has not yet moved past the group).
   */
  private culprit(index: number): string {
    return this.stray ?? (index > 0 ? this.argv[index - 1]! : this.program);
  }

  addLongs(more: readonly LongOption[]): void {
    this.longs.push(...more);
  }

  /**
   * The word after the option just read, taken as its value when it does not start with '-'
   * or '!' (conntrack's way of giving optional values without '=').
   */
  optionalNext(): string | undefined {
    if (this.group) return undefined;
    const next = this.argv[this.i];
    if (next === undefined || next.startsWith('-') || next.startsWith('!')) return undefined;
    this.i++;
    return next;
  }

  next(): ScanItem | null {
    if (this.group) return this.short();
    for (;;) {
      const arg = this.argv[this.i];
      if (arg === undefined) return null;
      if (arg === '--') {
        this.i = this.argv.length;
        return null;
      }
      if (!arg.startsWith('-') || arg === '-') {
        this.i++; // a stray word: skipped, as conntrack does
        this.stray = arg;
        continue;
      }
      this.i++;
      if (arg.startsWith('--')) return this.long(arg);
      this.group = { text: arg, at: 1, index: this.i - 1 };
      return this.short();
    }
  }

  private long(arg: string): ScanItem {
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const attached = eq >= 0 ? arg.slice(eq + 1) : undefined;
    let found = this.longs.find((o) => o.name === name);
    if (!found) {
      let prefixed = this.longs.filter((o) => o.name.startsWith(name));
      // An abbreviation of conntrack's options reads as conntrack reads it, whatever nfct adds.
      const theirs = prefixed.filter((o) => !o.own);
      if (theirs.length > 0) prefixed = theirs;
      if (prefixed.length === 0) return { kind: 'unknown', text: arg };
      const first = prefixed[0]!;
      if (prefixed.some((o) => o.key !== first.key || o.arg !== first.arg)) return { kind: 'unknown', text: arg };
      found = first;
    }
    if (found.arg === 0) {
      if (attached !== undefined) return { kind: 'unknown', text: arg };
      return { kind: 'option', key: found.key, value: undefined, text: arg };
    }
    if (attached !== undefined) return { kind: 'option', key: found.key, value: attached, text: arg };
    if (found.arg === 2) return { kind: 'option', key: found.key, value: undefined, text: arg };
    const value = this.argv[this.i];
    if (value === undefined) return { kind: 'missing', text: arg };
    this.i++;
    return { kind: 'option', key: found.key, value, text: arg };
  }

  private short(): ScanItem {
    const g = this.group!;
    const letter = g.text[g.at]!;
    g.at++;
    const rest = g.text.slice(g.at);
    const done = (): void => {
      if (g.at >= g.text.length) this.group = undefined;
    };
    const arg = this.shorts[letter];
    if (arg === undefined) {
      // The last letter of its word: getopt has moved past the word, and names it whole.
      done();
      return { kind: 'unknown', text: this.group ? this.culprit(g.index) : g.text };
    }
    if (arg === 0) {
      done();
      return { kind: 'option', key: letter, value: undefined, text: `-${letter}` };
    }
    this.group = undefined;
    if (rest.length > 0) return { kind: 'option', key: letter, value: rest, text: `-${letter}` };
    if (arg === 2) return { kind: 'option', key: letter, value: undefined, text: `-${letter}` };
    const value = this.argv[this.i];
    if (value === undefined) return { kind: 'missing', text: g.text };
    this.i++;
    return { kind: 'option', key: letter, value, text: `-${letter}` };
  }
}

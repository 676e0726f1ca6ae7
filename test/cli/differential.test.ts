// The differential harness: every line of the corpus runs against `conntrack` (the peer) and
// `nfct` in twin namespaces that hold the same table, loaded the same way (conntrack -R of
// FIXTURE into each). Compared: exit status, stdout (lines sorted: the two namespaces hash
// entries in different orders; the timeout countdown and entry ids masked), stderr (the
// program's signature and name normalised) and the table each leaves behind. The lines whose
// difference is deliberate (docs/cli.md, "Deliberate differences") are listed in DELIBERATE with the
// reason and left out of the comparison.
import { closeSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { NFCT_SHELL } from '../helpers/nfct.js';
import { checkOutput } from '../helpers/schema.js';
import { runConntrack } from '../oracle/conntrack-cli.js';
import { runNfct } from '../support/run-nfct.js';
import { CORPUS, type CorpusLine, FIXTURE } from './corpus.js';

const NFCT = NFCT_SHELL;
const LABELS = { 0: 'lbl0', 1: 'lbl1', 2: 'lbl2', 3: 'lbl3' };

let peer: Netns;
let ours: Netns;
let dir: string;
let fixtureFile: string;

interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
  table: string;
  /** For -U: the table afterwards as `conntrack -L` prints it with the line's -o (normalised). */
  listing?: string;
}

const MARK_THEN_STATUS = "nfct keeps -m's mark when -u comes after it";

/** The line with its -u and the status after it moved before its -m. */
function statusFirst(args: readonly string[]): string[] {
  const u = args.indexOf('-u');
  const rest = [...args.slice(0, u), ...args.slice(u + 2)];
  const m = rest.indexOf('-m');
  return [...rest.slice(0, m), ...args.slice(u, u + 2), ...rest.slice(m)];
}

/** Lines whose difference from conntrack is deliberate, with why (docs/cli.md lists them). */
export const DELIBERATE: Record<string, string> = {
  '': "usage text is nfct's own",
  '-h': "usage text is nfct's own",
  '--help': "usage text is nfct's own",
  // conntrack 1.4.7 sends an update without the entry's zone: for the entry in zone 5 (and
  // 7) the kernel answers ENOENT; nfct updates them.
  '-U -s 10.0.0.1 -m 7': 'nfct also updates the entries of non-zero zones',
  '-U -f ipv4 -p udp -m 5': 'nfct also updates the entries of non-zero zones',
  '-U -f ipv4 -p udp -m 3': 'nfct also updates the entries of non-zero zones',
  '-U -s 10.0.0.1 --mask-src 255.255.0.0 -m 4': 'nfct also updates the entries of non-zero zones',
  '-U -s 10.0.0.0/24 -m 4': 'nfct also updates the entries of non-zero zones',
  "printf '%s\\n' '-U -s 10.0.0.1 -m 9' | CT -R -": 'nfct also updates the entries of non-zero zones',
  // conntrack 1.4.7 sends -U requests with the family of the command line, AF_UNSPEC when none
  // was given (no -f, no address), which the kernel refuses (EOPNOTSUPP).
  '-U -p udp -m 5': 'nfct updates when no family is given',
  '-U -p tcp -m 5': 'nfct updates when no family is given',
  // conntrack 1.4.7 sends its flush with the old message version, and the kernel then empties
  // every family.
  '-F -f ipv6': 'nfct flushes only the family given',
  '-F -f ipv4': 'nfct flushes only the family given',
  // conntrack 1.4.7 sends the NAT address in each update; the kernel refuses every one
  // (EOPNOTSUPP) and conntrack's count and lines then vary. nfct refuses the command as the
  // kernel refuses each update; both leave the table as it was (checked below).
  '-U -s 10.0.0.5 --dst-nat 192.168.1.1 -m 7': 'nfct refuses -U with a NAT address at once',
  // conntrack 1.4.7 takes the bits of a -u as the value of a -m given before it (later
  // conntrack keeps them apart): it lists, deletes and sets marks by the status. nfct reads
  // them apart in either order; conntrack with -u first is the reference (checked below).
  '-L -m 1 -u ASSURED': MARK_THEN_STATUS,
  '-D -m 1 -u ASSURED': MARK_THEN_STATUS,
  '-U -d 10.0.0.2 -m 7 -u SEEN_REPLY': MARK_THEN_STATUS,
  '-U -d 10.0.0.4 -m 7 -u UNSET': MARK_THEN_STATUS,
};

function normaliseOut(text: string): string {
  return text
    .split('\n')
    .filter((l) => l.length > 0)
    .map((l) =>
      l
        .replace(/^((?:ipv[46]\s+\d+\s+)?\S+\s+\d+\s+)\d+ /, '$1T ')
        .replace(/ -t \d+/, ' -t T')
        .replace(/<timeout>\d+<\/timeout>/, '<timeout>T</timeout>')
        .replace(/ id=\d+$/, ' id=ID')
        .replace(/<id>\d+<\/id>/, '<id>ID</id>')
        .replace(/^(cpu=\d+\s+)(.*)$/, (_, cpu: string, rest: string) => cpu + rest.replace(/=\d+/g, '=N'))
        .replace(/^conntrack v1\.4\.7 \(conntrack-tools\)$/, 'VERSION')
        .replace(/^nfct v\d+\.\d+\.\d+ \(conntrack-tools compatible\)$/, 'VERSION')
    )
    .sort()
    .join('\n');
}

function normaliseErr(text: string): string {
  return text
    .replace(/conntrack v1\.4\.7 \(conntrack-tools\): /g, 'SIGNED: ')
    .replace(/nfct v\d+\.\d+\.\d+ \(conntrack-tools compatible\): /g, 'SIGNED: ')
    .replace(/Try `(conntrack|nfct) -h' or '(conntrack|nfct) --help' for more information\./g, 'TRY-HELP')
    // conntrack names its own program (argv[0]) for an unknown letter starting the first word
    .replace(/unknown option `(conntrack|nfct)'/g, "unknown option `PROGRAM'")
    .replace(/nfct_labelmap_new: No such file or directory/g, 'NO-LABEL-FILE')
    .replace(/nfct: cannot read label names: \/etc\/xtables\/connlabel\.conf: No such file or directory/g,
      'NO-LABEL-FILE');
}

/** The table as conntrack saves it, and as it lists it (the listing has the marks and zones save leaves out). */
async function table(ns: Netns): Promise<string> {
  const [saved, listed] = await Promise.all([runConntrack(ns, ['-L', '-o', 'save']),
    runConntrack(ns, ['-L', '-o', 'extended'])]);
  return `${normaliseOut(saved.stdout)}\n${normaliseOut(listed.stdout)}`;
}

/**
 * A table() text without the entries of one family: the `-o extended` lines start with their
 * family, the `-o save` lines name theirs by their addresses (IPv6 ones hold a colon). The
 * fixture has entries of both families in both parts, so neither part is left empty.
 */
function withoutFamily(text: string, family: 'ipv4' | 'ipv6'): string {
  const familyOf = (l: string): string =>
    /^ipv[46] /.test(l) ? l.slice(0, 4) : / -s [0-9a-f.]*:/.test(l) ? 'ipv6' : 'ipv4';
  return text.split('\n').filter((l) => familyOf(l) !== family).join('\n');
}

async function reset(ns: Netns): Promise<void> {
  await runConntrack(ns, ['-F']);
  await runConntrack(ns, ['-R', fixtureFile]);
}

/** When both tables were last loaded. */
let loadedAt = 0;
/** Both namespaces back to FIXTURE (at once: the two tables age alike). */
async function resetBoth(): Promise<void> {
  await Promise.all([reset(peer), reset(ours)]);
  loadedAt = Date.now();
}

/** A program in `ns` under a private /etc holding a connlabel.conf (both programs alike). */
async function withLabels(ns: Netns, program: string,
  args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>
{
  if (program === 'conntrack') return runConntrack(ns, args, { labelMap: LABELS });
  return underLabels(ns, [...NFCT.split(' '), ...args]);
}

/** A command in `ns` under a private /etc holding the connlabel.conf of LABELS. */
async function underLabels(ns: Netns,
  command: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>
{
  const upper = await mkdtemp(join(dir, 'upper-'));
  const work = await mkdtemp(join(dir, 'work-'));
  await mkdir(join(upper, 'xtables'), { recursive: true });
  await writeFile(join(upper, 'xtables', 'connlabel.conf'),
    Object.entries(LABELS).map(([b, n]) => `${b} ${n}\n`).join(''));
  const script =
    'mount -t overlay nfct-labels -o "lowerdir=/etc,upperdir=$1,workdir=$2" /etc || exit 97; shift 2; exec "$@"';
  return ns.exec('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', upper, work, ...command]);
}

async function runLine(line: CorpusLine): Promise<{ peer: Outcome; ours: Outcome }> {
  const run = async (ns: Netns, program: 'conntrack' | 'nfct'): Promise<Outcome> => {
    let r: { code: number | null; stdout: string; stderr: string };
    const shell = line.shell?.replaceAll('CT', program === 'conntrack' ? 'conntrack' : NFCT);
    if (shell && line.labels) r = await underLabels(ns, ['sh', '-c', shell]);
    else if (shell) r = await ns.sh(shell);
    else if (line.devnull && program === 'conntrack') {
      r = await ns.exec('sh', ['-c', 'exec conntrack "$@" > /dev/null', 'sh', ...line.args!], { env: { TZ: 'UTC' } });
    } else if (line.devnull) {
      r = await toDevNull((fd) => runNfct(['--netns', ns.name, ...line.args!], { stdoutFd: fd }));
    } else if (line.labels) r = await withLabels(ns, program, line.args!);
    else if (program === 'conntrack') r = await runConntrack(ns, line.args!);
    else r = await runNfct(['--netns', ns.name, ...line.args!]);
    // What nfct printed through a shell is checked as runNfct checks its own.
    if (program === 'nfct' && (line.shell || line.labels)) {
      checkOutput(r.stdout, false, `nfct ${line.shell ?? line.args!.join(' ')}`);
    }
    const outcome: Outcome = { code: r.code, stdout: normaliseOut(r.stdout), stderr: normaliseErr(r.stderr),
      table: await table(ns) };
    if (isUpdate(line) && program === 'nfct') {
      const o = line.args!.indexOf('-o');
      // An update prints the labels it set whatever -o says; a listing, with -o labels.
      const output = [o >= 0 ? line.args![o + 1]! : '', line.labels ? 'labels' : ''].filter(Boolean).join(',');
      const listed = await runConntrack(ns, ['-L', ...(output ? ['-o', output] : [])],
        line.labels ? { labelMap: LABELS } : {});
      outcome.listing = normaliseOut(listed.stdout);
    }
    return outcome;
  };
  // The two namespaces are independent: both run at once.
  const [p, o] = await Promise.all([run(peer, 'conntrack'), run(ours, 'nfct')]);
  return { peer: p, ours: o };
}

/** A -U command line (not a shell line: those are -R files, compared with conntrack as they are). */
const isUpdate = (line: CorpusLine): boolean => line.args?.[0] === '-U';

/**
 * conntrack -U counts every entry it updates but prints only some of them (it reads each back
 * with a get on a second socket and prints what that socket's callback saw: for the fixture,
 * 1 line of 2 updated, 3 of 8), so its lines cannot be the reference. nfct's are checked against
 * the kernel's table instead: as many entry lines as the count it reports (which is compared
 * with conntrack's), none twice, each the entry as `conntrack -L` (same -o) lists it
 * afterwards, holding one more reference (the get's, as conntrack prints it), and every line
 * conntrack printed among them (save where the difference is deliberate).
 */
function updateProblems(p: Outcome, o: Outcome, deliberate: boolean): string[] {
  const entries = (text: string) => text.split('\n').filter((l) => l.length > 0 && !/^<\?xml|^<\/?conntrack>$/.test(l));
  const ours = entries(o.stdout);
  const problems: string[] = [];
  const count = /(\d+) flow entries have been updated\./.exec(o.stderr);
  if (ours.length !== (count ? Number(count[1]) : 0)) {
    problems.push(`${ours.length} entry lines for ${count ? count[0] : 'no count'}`);
  }
  if (new Set(ours).size !== ours.length) problems.push('an entry printed twice');
  const held = new Set(
    entries(o.listing ?? '').map((l) =>
      l.replace(/ use=(\d+)/, (_, n: string) => ` use=${Number(n) + 1}`).replace(/<use>(\d+)<\/use>/,
        (_, n: string) => `<use>${Number(n) + 1}</use>`)
    ),
  );
  for (const l of ours) if (!held.has(l)) problems.push(`not in the table afterwards: ${l}`);
  if (!deliberate) {
    for (const l of entries(p.stdout)) if (!ours.includes(l)) problems.push(`printed by conntrack, not by nfct: ${l}`);
  }
  return problems;
}

/** Runs `f` with a descriptor open on /dev/null, closed afterwards. */
async function toDevNull<T>(f: (fd: number) => Promise<T>): Promise<T> {
  const fd = openSync('/dev/null', 'w');
  try {
    return await f(fd);
  } finally {
    closeSync(fd);
  }
}

let fixtureTable = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'nfct-diff-'));
  fixtureFile = join(dir, 'fixture');
  await writeFile(fixtureFile, `${FIXTURE.join('\n')}\n`);
  peer = await createNetns('nfct-diffpeer', { labels: true });
  ours = await createNetns('nfct-diffours', { labels: true });
  await resetBoth();
  fixtureTable = await table(peer);
  expect(await table(ours)).toBe(fixtureTable);
}, 120_000);

afterAll(async () => {
  await peer?.remove();
  await ours?.remove();
  if (dir) await rm(dir, { recursive: true, force: true });
});

const label = (l: CorpusLine): string => l.shell ?? `${l.args!.join(' ')}${l.devnull ? ' > /dev/null' : ''}`;

describe('nfct against conntrack, line by line', () => {
  test('the corpus has at least 300 lines', () => {
    expect(CORPUS.length).toBeGreaterThanOrEqual(300);
  });

  // One test per line: a failure names its line, and a run can pick the lines it needs (the
  // mutation tests run only the lines that reached the code a mutant changed). A line that
  // appears twice is numbered the second time.
  const seen = new Map<string, number>();
  for (const line of CORPUS) {
    const key = label(line);
    const n = (seen.get(key) ?? 0) + 1;
    seen.set(key, n);
    test(`$ ${key}${n > 1 ? ` (#${n})` : ''}`, async () => {
      const differences: string[] = [];
      let outcome: { peer: Outcome; ours: Outcome } | undefined;
      let reset = false;
      // The entries' timeouts count down from 300 s: reloaded long before they could expire
      // between the two programs' listings (a slow machine takes minutes over the corpus).
      if (Date.now() - loadedAt > 120_000) await resetBoth();
      try {
        outcome = await runLine(line);
        const { peer: p, ours: o } = outcome;
        const deliberate = DELIBERATE[key];
        // -U: nfct's lines against the table it left (updateProblems); everything else as conntrack.
        const update = isUpdate(line) ? updateProblems(p, o, deliberate !== undefined) : [];
        if (update.length > 0) {
          differences.push([...update.map((x) => `  -U: ${x}`), `  stdout nfct:\n${o.stdout}`].join('\n'));
        }
        const same = p.code === o.code && (isUpdate(line) || p.stdout === o.stdout) && p.stderr === o.stderr &&
          p.table === o.table;
        if (deliberate === undefined && !same) {
          differences.push(
            [`  exit ${p.code} / ${o.code}`,
              p.stdout !== o.stdout ? `  stdout conntrack:\n${p.stdout}\n  stdout nfct:\n${o.stdout}` : '',
              p.stderr !== o.stderr ? `  stderr conntrack:\n${p.stderr}  stderr nfct:\n${o.stderr}` : '',
              p.table !== o.table ? `  table conntrack:\n${p.table}\n  table nfct:\n${o.table}` : ''].filter(Boolean)
              .join('\n'),
          );
        }
        // -F -f FAMILY: nfct leaves the other family's entries exactly as they were (and says
        // and exits what conntrack does).
        const flushed = /^-F -f (ipv[46])$/.exec(key)?.[1] as 'ipv4' | 'ipv6' | undefined;
        if (flushed !== undefined) {
          const expected = withoutFamily(fixtureTable, flushed);
          if (o.table !== expected || expected === fixtureTable || o.code !== p.code || o.stderr !== p.stderr) {
            differences.push(
              `  -F -f ${flushed}: nfct must leave the fixture without its ${flushed} entries (exit ${o.code}, ${o.stderr})\n  table nfct:\n${o.table}`,
            );
          }
        }
        if (deliberate?.startsWith('nfct refuses -U with a NAT address') &&
          (p.table !== fixtureTable || o.table !== fixtureTable || o.code !== 1 ||
            !o.stderr.includes('Operation failed: Operation not supported')))
        {
          differences.push(
            `  -U with a NAT address: both tables must stay as they were, nfct exit 1 with the kernel's refusal (got ${o.code}: ${o.stderr})`,
          );
        }
        if (deliberate === MARK_THEN_STATUS) {
          const swapped = statusFirst(line.args!);
          await resetBoth();
          const ref = (await runLine({ args: swapped })).peer;
          reset = true;
          if (ref.code !== o.code || ref.stderr !== o.stderr || ref.table !== o.table ||
            (!isUpdate(line) && ref.stdout !== o.stdout))
          {
            differences.push(
              `  -u after -m: nfct must do what conntrack ${
                swapped.join(' ')
              } does\n  exit ${ref.code} / ${o.code}\n  stdout conntrack:\n${ref.stdout}\n  stdout nfct:\n${o.stdout}\n  stderr conntrack:\n${ref.stderr}  stderr nfct:\n${o.stderr}  table conntrack:\n${ref.table}\n  table nfct:\n${o.table}`,
            );
          }
        }
      } finally {
        // The next line starts from FIXTURE again.
        if (reset || outcome?.peer.table !== fixtureTable || outcome.ours.table !== fixtureTable) await resetBoth();
      }
      if (process.env.NFCT_DIFF_REPORT && differences.length > 0) {
        await writeFile(process.env.NFCT_DIFF_REPORT, `$ ${key}\n${differences.join('\n')}\n\n`, { flag: 'a' });
      }
      expect(differences.join('\n')).toBe('');
    });
  }
});

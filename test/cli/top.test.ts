// nfct top, in a real terminal: tmux runs it against a namespace filled with a known
// distribution, capture-pane shows the expected top line, send-keys switches the grouping and
// quits. Off a terminal it prints plain lines; --once --json one NDJSON snapshot.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

import { beforeAll, describe, expect, test } from 'vitest';

import { useNetns } from '../helpers/netns.js';
import { CLI, execNfct, NFCT_SHELL } from '../helpers/nfct.js';
import { checkOutput } from '../helpers/schema.js';
import { useTmux } from '../helpers/tmux.js';
import { type EntrySpec, loadEntries } from '../oracle/conntrack-cli.js';

const run = promisify(execFile);
const ns = useNetns('nfct-top');
const { tmux, paneWhen } = useTmux('nfct-top');

/** 40 entries from 10.1.0.1, 25 from 10.1.0.2, 10 from 10.1.0.3; 50 to 10.2.0.7, 25 to 10.2.0.8. */
function distribution(): EntrySpec[] {
  const out: EntrySpec[] = [];
  const srcs: [string, number][] = [['10.1.0.1', 40], ['10.1.0.2', 25], ['10.1.0.3', 10]];
  let i = 0;
  for (const [src, n] of srcs) {
    for (let k = 0; k < n; k++, i++) {
      out.push({ proto: i % 2 ? 'udp' : 'tcp', src, dst: i < 50 ? '10.2.0.7' : '10.2.0.8', sport: 20000 + i, dport: 80,
        timeout: 600, ...(i % 2 ? {} : { state: 'ESTABLISHED' }) });
    }
  }
  return out;
}

async function nfct(...args: string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  const r = await execNfct(args, { timeout: 20000 });
  return { stdout: r.stdout, stderr: r.stderr, code: r.code ?? -1 };
}

/** The first data row under the header that names `column`. */
function firstRow(text: string, column: string): string[] {
  const lines = text.split('\n');
  const h = lines.findIndex((l) => /^\s*COUNT\s+%/.test(l) && l.includes(column));
  expect(h, text).toBeGreaterThanOrEqual(0);
  // The row: the selection marker, then COUNT % CHANGE RATE and the keys; CHANGE and RATE left out.
  const f = lines[h + 1]!.trim().split(/\s+/);
  if (f[0] === '>') f.shift();
  return [f[0]!, f[1]!, ...f.slice(4)];
}

beforeAll(async () => {
  await loadEntries(ns, distribution());
});

describe('nfct top in a terminal (tmux)', () => {
  test('shows the biggest source first, g switches to destinations, q quits', async () => {
    await tmux('new-session', '-d', '-s', 'top', '-x', '120', '-y', '30',
      `${process.execPath} ${CLI} top --netns ${ns.name} --interval 0.5; sleep 30`);
    let text = await paneWhen((t) => /COUNT\s+%\s+CHANGE\s+RATE\s+SRC/.test(t));
    expect(firstRow(text, 'SRC')).toEqual(['40', '53.3', '10.1.0.1']);
    expect(text).toMatch(/entries 75 \/ [\d,]+ \(0\.\d% full\)/);
    expect(text).toContain('q: quit');

    await tmux('send-keys', '-t', 'top', 'g');
    text = await paneWhen((t) => /COUNT\s+%\s+CHANGE\s+RATE\s+DST/.test(t));
    expect(firstRow(text, 'DST')).toEqual(['50', '66.7', '10.2.0.7']);

    await tmux('send-keys', '-t', 'top', 'G', 'G');
    text = await paneWhen((t) => /COUNT\s+%\s+CHANGE\s+RATE\s+FAMILY/.test(t));
    // g then G G: one key back from src (the cycle wraps to its last key, family)
    expect(firstRow(text, 'FAMILY')).toEqual(['75', '100.0', 'ipv4']);

    await tmux('send-keys', '-t', 'top', 'q');
    // After q the shell's `sleep` holds the pane: the screen is restored, top's frame is gone.
    text = await paneWhen((t) => !t.includes('COUNT'));
    expect(text).not.toContain('nfct top');
  });
});

describe('nfct top off a terminal', () => {
  test('--once --json prints one NDJSON snapshot with the groups and header figures', async () => {
    const r = await nfct('top', '--netns', ns.name, '--once', '--json', '--interval', '0.2', '--by', 'dst');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines).toHaveLength(1);
    const s = JSON.parse(lines[0]!);
    expect(s.by).toEqual(['dst']);
    expect(s.entries).toBe(75);
    // One read of the table: a group's change is not known (it would take a second read).
    expect(s.groups).toEqual([
      { key: { dst: '10.2.0.7' }, count: 50, change: null, rate: null },
      { key: { dst: '10.2.0.8' }, count: 25, change: null, rate: null },
    ]);
    expect(s.namespaces).toHaveLength(1);
    expect(s.namespaces[0]).toMatchObject({ netns: { label: ns.name, names: [ns.name] }, entries: 75, matched: 75,
      drop: 0, early_drop: 0, insert_failed: 0 });
    expect(s.namespaces[0].max).toBeGreaterThan(0);
    expect(typeof s.namespaces[0].newPerSec).toBe('number');
  });

  test('plain lines, no escape sequences, when stdout is a pipe', async () => {
    const r = await nfct('top', '--netns', ns.name, '--once', '--interval', '0.2', '--by', 'src,protocol');
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain('\x1b');
    const lines = r.stdout.split('\n');
    const h = lines.findIndex((l) => /COUNT\s+%\s+CHANGE\s+RATE\s+SRC\s+PROTOCOL/.test(l));
    expect(lines.slice(h + 1, h + 3).map((l) => l.trim().split(/\s+/))).toEqual([
      ['20', '26.7', '-', '-', '10.1.0.1', 'tcp'],
      ['20', '26.7', '-', '-', '10.1.0.1', 'udp'],
    ]);
  });

  for (const json of [false, true]) {
    test(`live${json ? ' --json' : ''} into | head -1: one line, then a quiet end with exit 0 at the next frame`, async () => {
      const r = await run('bash', ['-c',
        `${NFCT_SHELL} top --netns ${ns.name} --interval 0.2${
          json ? ' --json' : ''
        } | head -1; echo "status \${PIPESTATUS[0]}" >&2`], { timeout: 20000 });
      expect(r.stdout.split('\n').filter(Boolean)).toHaveLength(1);
      checkOutput(r.stdout, json, 'nfct top | head -1');
      expect(r.stdout).toMatch(json ? /^\{"type":"top","time":/ : /^nfct top - /);
      expect(r.stderr).toBe('status 0\n');
    });
  }

  test('--all-netns: the namespace is a group-by key', async () => {
    const r = await nfct('top', '--all-netns', '--once', '--json', '--interval', '0.2', '--by', 'netns,src', '--top',
      '1000');
    expect(r.code).toBe(0);
    const s = JSON.parse(r.stdout.trim());
    const mine = s.groups.filter((g: { key: { netns: string } }) => g.key.netns === ns.name);
    expect(mine.map((g: { key: unknown; count: number }) => ({ key: g.key, count: g.count }))).toEqual([
      { key: { netns: ns.name, src: '10.1.0.1' }, count: 40 },
      { key: { netns: ns.name, src: '10.1.0.2' }, count: 25 },
      { key: { netns: ns.name, src: '10.1.0.3' }, count: 10 },
    ]);
    expect(s.namespaces.map((n: { netns: { label: string } }) => n.netns.label)).toContain(ns.name);
    expect(s.entries).toBe(s.namespaces.reduce((sum: number, n: { entries: number }) => sum + n.entries, 0));
  });

  test.each([
    [['--by', 'colour'], /--by: unknown key 'colour'/],
    [['--sort', 'size'], /--sort must be one of/],
    [['--interval', '0'], /--interval needs a number/],
    [['--netns', 'a', '--all-netns'], /use one of --netns, --pid, --pod, --all-netns/],
    [['--frobnicate'], /unknown option '--frobnicate'/],
    [['-p', 'tcpp'], /nfct top -p.protocol must be a protocol name/],
  ])('%j is refused with exit status 2', async (args, message) => {
    const r = await nfct('top', ...args);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });
});

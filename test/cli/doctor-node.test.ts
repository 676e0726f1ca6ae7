// nfct doctor over every namespace of the node: what concerns the node (a global setting) is
// said once, not once per namespace; --min-severity leaves out what is less severe and the
// summary says how much; per-namespace findings carry their namespace's netns object.
import { readFileSync } from 'node:fs';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { execNfct } from '../helpers/nfct.js';

let spaces: Netns[] = [];
beforeAll(async () => {
  spaces = await Promise.all([1, 2, 3].map(() => createNetns('nfct-doc-node')));
  // A per-namespace setting each of them shows (an info finding in each).
  for (const n of spaces) await n.execOk('sysctl', ['-qw', 'net.netfilter.nf_conntrack_acct=0']);
});
afterAll(async () => {
  await Promise.all(spaces.map((n) => n.remove()));
});

interface Row {
  severity: string;
  check: string;
  scope: string;
  netns?: { label: string; inode: number };
}

describe('nfct doctor --all-netns', () => {
  test('node-wide findings once; per-namespace ones with their netns', async () => {
    const r = await execNfct(['doctor', '--all-netns', '--json', '--interval', '0.1'], { timeout: 120000 });
    const rows = r.rows as unknown as Row[];
    const node = rows.filter((f) => f.scope === 'node');
    const checks = node.map((f) => f.check);
    expect(new Set(checks).size).toBe(checks.length);
    for (const f of node) expect(f).not.toHaveProperty('netns');
    // The global setting as it is now: with it off, the finding is there once for all namespaces.
    const allNetns = readFileSync('/proc/sys/net/netfilter/nf_log_all_netns', 'utf8').trim();
    expect(checks.filter((c) => c === 'nf-log-all-netns-off')).toHaveLength(allNetns === '0' ? 1 : 0);
    for (const n of spaces) {
      const mine = rows.filter((f) => f.netns?.label === n.name);
      expect(mine.map((f) => f.check)).toContain('acct-off');
      expect(mine.every((f) => f.scope === 'namespace')).toBe(true);
    }
    expect(r.stderr).toMatch(/^nfct doctor: \d+ namespaces examined; \d+ findings; \d+ errors?\.$/m);
  }, 130000);

  test('--min-severity warning: no info finding, and the summary counts what it left out', async () => {
    const r = await execNfct(['doctor', '--netns', spaces[0]!.name, '--json', '--interval', '0.1', '--min-severity',
      'warning']);
    expect((r.rows as unknown as Row[]).filter((f) => f.severity === 'info')).toEqual([]);
    expect(r.stderr).toMatch(
      /^nfct doctor: 1 namespace examined; \d+ findings? \(\d+ below warning not shown\); 0 errors\.$/m,
    );
    const all = await execNfct(['doctor', '--netns', spaces[0]!.name, '--json', '--interval', '0.1']);
    expect((all.rows as unknown as Row[]).some((f) => f.severity === 'info' && f.check === 'acct-off')).toBe(true);
  });

  test('--min-severity loud is refused, naming the flag', async () => {
    const r = await execNfct(['doctor', '--min-severity', 'loud']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe("nfct doctor: --min-severity must be one of error, warning, info, got 'loud'\n");
  });
});

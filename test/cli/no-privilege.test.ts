// nfct without privilege (uid/gid 65534, no capabilities), inside a test namespace: each
// command says the missing capability once, and nothing else: no summary of a run that never
// started ("0 packets traced", "0 namespaces examined"), no line per namespace for a privilege
// every namespace lacks alike. The CLI runs bundled from a world-readable directory.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { createNetns, type Netns } from '../helpers/netns.js';
import { checkOutput } from '../helpers/schema.js';
import { bundleLibrary, type LibraryBundle } from '../support/bundle.js';

let ns: Netns;
let bundle: LibraryBundle;

beforeAll(async () => {
  [ns, bundle] = await Promise.all([createNetns('nfct-nopriv'), bundleLibrary({ cli: true })]);
});
afterAll(async () => {
  await ns?.remove();
  bundle?.remove();
});

const unprivileged = async (args: string[]) => {
  const r = await ns.exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all',
    process.execPath, bundle.cli!, ...args], { timeoutMs: 20_000 });
  checkOutput(r.stdout, false, `nfct ${args.join(' ')}`);
  return r;
};

const CAP = 'Operation failed: sorry, you must be root or get CAP_NET_ADMIN capability to do this\n';

describe('nfct as a user without privilege', () => {
  test.each([
    [['-L', '--all-netns']],
    [['-E', '--all-netns']],
  ])("%j: the CAP_NET_ADMIN message alone, in conntrack's words, exit 1", async (args) => {
    const r = await unprivileged(args);
    expect(r.stderr).toMatch(/^nfct v\S+ \(conntrack-tools compatible\): /);
    expect(r.stderr.replace(/^nfct v\S+ \(conntrack-tools compatible\): /, '')).toBe(CAP);
    expect(r.code).toBe(1);
  });

  test.each([
    [['trace']],
    [['trace', '--nftables']],
    [['log', '--group', '3']],
    [['log', '--group', '3', '--all-netns']],
  ])("%j: what failed and the capability it needs, in the command's own name, exit 1", async (args) => {
    const r = await unprivileged(args);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // The capability it lacks: CAP_NET_ADMIN for netlink, CAP_SYS_ADMIN to enter other namespaces.
    expect(r.stderr).toMatch(new RegExp(`^nfct ${args[0]}: .*EPERM.*CAP_(NET|SYS)_ADMIN`));
    expect(r.code).toBe(1);
  });

  test.each([[['-F']], [['-F', 'expect']]])('%j: what conntrack says without privilege, word for word, exit 1',
    async (args) => {
      const theirs = await ns.exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all',
        'conntrack', ...args], { timeoutMs: 20_000 });
      const r = await unprivileged(args);
      const unsigned = (text: string) =>
        text.replace(/^(conntrack|nfct) v\S+ \(conntrack-tools(?: compatible)?\): /gm, '');
      // (conntrack says the table was emptied before it reports the refusal)
      expect(unsigned(theirs.stderr)).toMatch(/table has been emptied\.\nOperation failed: sorry/);
      expect(unsigned(r.stderr)).toBe(unsigned(theirs.stderr));
      expect([r.code, r.stdout]).toEqual([theirs.code, theirs.stdout]);
      expect(r.code).toBe(1);
    });

  // The kernel's refusal of each request, after the handle opened: list, get, delete (the dump
  // and, with stdout /dev/null and a family filter, the kernel's flush), update, -L expect.
  test.each([
    ['-L'],
    ['-G -p udp -s 10.9.0.1 -d 10.9.0.2 --sport 1 --dport 2'],
    ['-D -p udp'],
    ['-D -f ipv4 >/dev/null'],
    ['-U -p udp -m 1'],
    ['-L expect'],
    // -R of a save file's lines: the library's restore, and the parser's create
    ['-R - <<EOF\n-A -t 50 -s 10.9.0.3 -d 10.9.0.2 -p udp --sport 1 --dport 2\nEOF'],
    ['-R - <<EOF\n-I -p udp -s 10.9.0.4 -d 10.9.0.2 --sport 1 --dport 2 -t 50 --orig-zone 4\nEOF'],
  ])('%s: what conntrack says without privilege, word for word, exit 1', async (line) => {
    const run = (program: string) =>
      ns.exec('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', 'sh', '-c',
        `${program} ${line}`], { timeoutMs: 20_000 });
    const theirs = await run('conntrack');
    const r = await run(`${process.execPath} ${bundle.cli!}`);
    const unsigned = (text: string) =>
      text.replace(/^(conntrack|nfct) v\S+ \(conntrack-tools(?: compatible)?\): /gm, '');
    expect(unsigned(theirs.stderr)).toBe(CAP);
    expect(unsigned(r.stderr)).toBe(CAP);
    expect([r.code, r.stdout]).toEqual([theirs.code, theirs.stdout]);
  });

  test('-L --services: the ruleset it could not read, and the capability it needs, exit 1', async () => {
    const r = await unprivileged(['-L', '--services']);
    expect(r.stderr).toMatch(/^nfct v\S+ \(conntrack-tools compatible\): /);
    expect(r.stderr.replace(/^nfct v\S+ \(conntrack-tools compatible\): /, '')).toBe(
      '--services: reading the nf_tables ruleset: netlink failed with EPERM: this needs CAP_NET_ADMIN (run as root, or grant the capability)\n',
    );
    expect([r.code, r.stdout]).toEqual([1, '']);
  });

  test('doctor: the EPERM error alone, no summary of nothing examined, exit 1', async () => {
    const r = await unprivileged(['doctor', '--interval', '0.1']);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/^nfct doctor: \[\S+\] .*EPERM.*CAP_NET_ADMIN/);
    expect(r.stderr).not.toContain('examined');
    expect(r.code).toBe(1);
  });
});

// Kernel failures reach the user as NfctError with code, errno, syscall and a message a person
// can act on.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

import { describe, expect, test } from 'vitest';

import { Conntrack, NfctError, Nflog } from '../../lib/index.js';
import { useNetns } from '../helpers/netns.js';

const run = promisify(execFile);

const ns = useNetns('nfct-errors');

describe('namespaces', () => {
  test('a missing namespace name is ENOENT naming the path, pointing at the caller', async () => {
    const err = await Conntrack.open({ netns: 'nfct-no-such-ns' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NfctError);
    const e = err as NfctError;
    expect(e.code).toBe('ENOENT');
    expect(e.errno).toBe(2);
    expect(e.syscall).toBe('open');
    expect(e.message).toContain('/run/netns/nfct-no-such-ns');
    expect(e.stack).toContain('errors.test.ts');
  });

  test.each([['conntrack', Conntrack.open], ['NFLOG', Nflog.open]] as const)(
    'a file that is not a network namespace is refused by setns, naming what was being opened where: %s',
    async (what, open) => {
      const err = await open({ netns: '/proc/self/ns/uts' }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NfctError);
      expect((err as NfctError).code).toBe('EINVAL');
      expect((err as NfctError).syscall).toBe('setns');
      expect((err as NfctError).message).toMatch(
        new RegExp(`^opening ${what} in network namespace /proc/self/ns/uts: setns failed with EINVAL`),
      );
    },
  );

  test("a namespace by pid reads that process's table", async () => {
    const child = ns.spawn('sleep', ['30']);
    try {
      await ns.execOk('conntrack', ['-I', '-p', 'udp', '-s', '10.3.3.3', '-d', '10.3.3.4', '--sport', '1', '--dport',
        '2', '-t', '60']);
      // `ip netns exec` makes the child; its pid is in our namespace's process list.
      const { stdout } = await run('ip', ['netns', 'pids', ns.name]);
      const pid = Number(stdout.trim().split('\n')[0]);
      const ct = await Conntrack.open({ netns: { pid } });
      const flows = await ct.list({ src: '10.3.3.3' }).toArray();
      await ct.close();
      expect(flows.length).toBe(1);
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('privileges', () => {
  test('without CAP_NET_ADMIN every operation fails with EPERM naming the capability', async () => {
    const viteNode = join(__dirname, '..', '..', 'node_modules', '.bin', 'vite-node');
    const child = join(__dirname, '..', 'support', 'no-cap-child.ts');
    const r = await ns.execOk('capsh', ['--drop=cap_net_admin,cap_sys_admin', '--', '-c',
      `exec "${viteNode}" "${child}" "${ns.path}"`], { timeoutMs: 60_000 });
    const results = r.stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l));
    expect(results.map((x) => x.name)).toEqual(['list', 'get', 'count', 'stats', 'open in another netns']);
    for (const x of results) {
      expect(x, x.name).toMatchObject({ ok: false, isNfct: true, code: 'EPERM', errno: 1 });
    }
    for (const x of results.slice(0, 4)) expect(x.message).toContain('CAP_NET_ADMIN');
    expect(results[4].message).toContain('setns');
    expect(results[4].message).toContain('CAP_SYS_ADMIN');
  });
});

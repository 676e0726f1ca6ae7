// listNamespaces() against the kernel: namespaces made here (named, twice named, unnamed with
// a process), processes put into container- and pod-like cgroups, and `ip netns` / `lsns` as
// the oracles.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { readdirSync, rmdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { listNamespaces, mapSettled, namespaceLabel, parseCgroup } from '../../lib/index.js';
import { killAll } from '../helpers/children.js';
import { createNetns, deleteNetnsSync, isPidAlive, type Netns, runOk } from '../helpers/netns.js';
import { until } from '../helpers/sentinel.js';

const POD_UID = '3f1c2d4e-5a6b-4c7d-8e9f-0a1b2c3d4e5f';
const CONTAINER_A = 'c0ffee'.padEnd(64, '1');
const CONTAINER_B = 'beef'.padEnd(64, '2');

let named: Netns;
let alias: string;
let namedProc: ChildProcess;
let unnamedProc: ChildProcess;
let cgroupDir: string | undefined;
/** A cgroup v2 hierarchy this file mounted itself (none was mounted), unmounted afterwards. */
let ownMount: string | undefined;

/**
 * Where the cgroup v2 hierarchy is mounted: /sys/fs/cgroup on a pure cgroup v2 host,
 * /sys/fs/cgroup/unified on a hybrid one; mounted in a temporary directory where it is not
 * mounted at all. A process's `0::` line in /proc/PID/cgroup names its place in it either way.
 */
async function cgroup2Root(): Promise<string> {
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const [mount, fs] = line.split(' - ');
    if (fs?.split(' ')[0] === 'cgroup2') return mount!.split(' ')[4]!;
  }
  ownMount = mkdtempSync(join(tmpdir(), 'nfct-cgroup2-'));
  await runOk('mount', ['-t', 'cgroup2', 'none', ownMount]);
  return ownMount;
}

/** Moves a process into a new cgroup v2 directory below the one made for this file. */
function intoCgroup(pid: number, relative: string): void {
  const dir = join(cgroupDir!, relative);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'cgroup.procs'), String(pid));
}

function removeCgroups(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) removeCgroups(join(dir, e.name));
  rmdirSync(dir);
}

async function started(child: ChildProcess): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', reject);
  });
  // `ip netns exec` and `unshare` exec the command: the pid stays, the namespace is entered first.
  const pid = child.pid!;
  const own = statSync('/proc/self/ns/net').ino;
  await until(() => statSync(`/proc/${pid}/ns/net`).ino !== own, `process ${pid} to enter its namespace`);
  return pid;
}

beforeAll(async () => {
  named = await createNetns('nfct-nslist');
  alias = `nfct-nsalias-${process.pid}-${Math.floor(Math.random() * 0xffffff).toString(16).padStart(6, '0')}`;
  namedProc = named.spawn('sleep', ['600'], { stdio: 'ignore' });
  const namedPid = await started(namedProc);
  await runOk('ip', ['netns', 'attach', alias, String(namedPid)]);
  unnamedProc = spawn('unshare', ['--net', 'sleep', '600'], { stdio: 'ignore' });
  const unnamedPid = await started(unnamedProc);
  // Container and pod ids come from cgroup v2 paths: where the hierarchy cannot be written the
  // test fails here, saying so, rather than checking less.
  const root = await cgroup2Root();
  try {
    mkdirSync(join(root, `nfct-nslist-${process.pid}`));
  } catch (e) {
    throw new Error(
      `cannot make a cgroup v2 directory in ${root} (${
        (e as Error).message
      }): the container and pod ids cannot be checked`,
    );
  }
  cgroupDir = join(root, `nfct-nslist-${process.pid}`);
  intoCgroup(namedPid,
    `kubepods-besteffort-pod${POD_UID.replaceAll('-', '_')}.slice/cri-containerd-${CONTAINER_A}.scope`);
  intoCgroup(unnamedPid, `docker-${CONTAINER_B}.scope`);
});

afterAll(async () => {
  // A cgroup can be removed once its processes are gone.
  await killAll([namedProc, unnamedProc]);
  if (alias) deleteNetnsSync(alias);
  await named?.remove();
  if (cgroupDir) removeCgroups(cgroupDir);
  if (ownMount) {
    await runOk('umount', [ownMount]);
    rmSync(ownMount, { recursive: true, force: true });
  }
});

describe('listNamespaces()', () => {
  test('one entry per namespace: names, processes, container and pod, as ip netns and lsns see them', async () => {
    // Other test files add and remove namespaces meanwhile: the names checked against `ip netns
    // list` are those it shows both before and after the listing.
    const ipNetnsNames = async () =>
      (await runOk('ip', ['netns', 'list'])).stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
    const lsnsPairs = async () =>
      (await runOk('lsns', ['-t', 'net', '-n', '-r', '-o', 'NS,PID'])).stdout.trim().split('\n');
    const ipBefore = await ipNetnsNames();
    const lsnsBefore = await lsnsPairs();
    const all = await listNamespaces();
    const lsnsAfter = new Set(await lsnsPairs());
    const ipAfter = new Set(await ipNetnsNames());
    const inodes = all.map((n) => n.inode);
    expect(new Set(inodes).size).toBe(inodes.length);

    const ino = statSync(named.path).ino;
    const mine = all.find((n) => n.inode === ino)!;
    expect(mine.names).toEqual([named.name, alias].sort());
    expect(mine.path).toBe(`/run/netns/${mine.names[0]}`);
    const p = mine.processes.find((x) => x.pid === namedProc.pid)!;
    expect(p.comm).toBe('sleep');
    // A pod's UID names it before its ip netns name (CNI names pod namespaces cni-<uuid>).
    expect(namespaceLabel(mine)).toBe(cgroupDir ? `pod:${POD_UID}` : mine.names[0]);

    const other = all.find((n) => n.processes.some((x) => x.pid === unnamedProc.pid))!;
    expect(other.names).toEqual([]);
    expect(other.inode).toBe(statSync(`/proc/${unnamedProc.pid}/ns/net`).ino);
    expect(other.path).toBe(`/proc/${other.processes[0]!.pid}/ns/net`);
    expect(other.inode).not.toBe(mine.inode);

    // The processes' cgroup v2 paths, as the kernel shows them, and what was read from them.
    expect(readFileSync(`/proc/${namedProc.pid}/cgroup`, 'utf8')).toContain(`/cri-containerd-${CONTAINER_A}.scope\n`);
    expect(p.containerId).toBe(CONTAINER_A);
    expect(mine.containerIds).toEqual([CONTAINER_A]);
    expect(mine.podUid).toBe(POD_UID);
    expect(other.containerIds).toEqual([CONTAINER_B]);
    expect(other.podUid).toBeUndefined();
    expect(namespaceLabel(other)).toBe(`pid:${unnamedProc.pid}`);

    // Oracle 1: every name `ip netns list` shows is listed, under the namespace `ip netns identify` gives.
    const ipNames = ipBefore.filter((name) => ipAfter.has(name));
    expect(ipNames).toContain(named.name);
    const byName = new Map(all.flatMap((n) => n.names.map((name) => [name, n] as const)));
    for (const name of ipNames) {
      let ok = true;
      try {
        ok = statSync(`/run/netns/${name}`).dev === statSync('/proc/self/ns/net').dev;
      } catch {
        ok = false; // removed meanwhile by someone else
      }
      if (ok) expect(byName.get(name)?.inode, name).toBe(statSync(`/run/netns/${name}`).ino);
    }
    const identified = (await runOk('ip', ['netns', 'identify', String(namedProc.pid)])).stdout.trim().split(/\s+/);
    expect(identified.length).toBeGreaterThan(0);
    for (const name of identified) expect(mine.names).toContain(name);

    // Oracle 2: every namespace lsns finds a process in is listed, with that process (lsns as it
    // stood both before and after the listing: processes start and end meanwhile).
    const lsns = lsnsBefore.filter((line) => lsnsAfter.has(line));
    const byInode = new Map(all.map((n) => [n.inode, n]));
    let compared = 0;
    for (const line of lsns) {
      const [ns, pid] = line.split(' ').map(Number) as [number, number];
      if (!isPidAlive(pid)) continue; // gone since
      expect(byInode.get(ns)?.processes.some((x) => x.pid === pid), `lsns ${line}`).toBe(true);
      compared++;
    }
    expect(compared).toBeGreaterThanOrEqual(2);
  });

  test('namespaces and processes vanishing while being read are skipped, not errors', async () => {
    // A bounded churn: processes with namespaces of their own start and exit, names come and go.
    const tag = `${process.pid}`;
    const script =
      `for i in $(seq 1 150); do unshare --net true & n=nfct-nschurn-${tag}-$(printf %06x $i); ip netns add $n; ip netns delete $n; done; wait`;
    const churn = spawn('sh', ['-c', script], { stdio: 'ignore' });
    const done = new Promise((r) => churn.once('exit', r));
    let rounds = 0;
    let running = true;
    void done.then(() => (running = false));
    while (running || rounds < 5) {
      const all = await listNamespaces();
      expect(all.some((n) => n.inode === statSync(named.path).ino)).toBe(true);
      rounds++;
    }
    await done;
    expect(rounds).toBeGreaterThanOrEqual(5);
    expect((await runOk('ip', ['netns', 'list'])).stdout).not.toContain(`nfct-nschurn-${tag}-`);
  });

  test('a leftover name that is no longer a namespace and a process without a namespace link are left out', async () => {
    const root = mkdtempSync(join(tmpdir(), 'nfct-nslist-'));
    try {
      mkdirSync(join(root, 'netns'));
      writeFileSync(join(root, 'netns', 'stale'), '');
      symlinkSync(named.path, join(root, 'netns', 'live'));
      mkdirSync(join(root, 'proc', '4242', 'ns'), { recursive: true });
      mkdirSync(join(root, 'proc', '4243'), { recursive: true }); // exited: no ns/ left
      symlinkSync('net:[77]', join(root, 'proc', '4242', 'ns', 'net'));
      writeFileSync(join(root, 'proc', '4242', 'comm'), 'pause\n');
      writeFileSync(join(root, 'proc', '4242', 'cgroup'), `0::/kubepods/besteffort/pod${POD_UID}/${CONTAINER_A}\n`);
      symlinkSync('/proc/self', join(root, 'proc', 'self'));
      const all = await listNamespaces({ netnsDir: join(root, 'netns'), procDir: join(root, 'proc') });
      expect(all).toEqual([
        { inode: 77, path: join(root, 'proc', '4242', 'ns', 'net'), names: [],
          processes: [{ pid: 4242, comm: 'pause', containerId: CONTAINER_A }], containerIds: [CONTAINER_A],
          podUid: POD_UID, initial: false, current: false },
        expect.objectContaining({ inode: statSync(named.path).ino, names: ['live'], processes: [] }),
      ].sort((a, b) => (a.inode as number) - (b.inode as number)));
      expect(await listNamespaces({ processes: false, netnsDir: join(root, 'netns'), procDir: join(root, 'proc') }))
        .toHaveLength(1);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  });

  test('bad options are refused naming the option', async () => {
    await expect(listNamespaces({ procDir: 'proc' })).rejects.toThrow(/options\.procDir must be an absolute path/);
    await expect(listNamespaces({ processes: 1 as never })).rejects.toThrow(TypeError);
    await expect(listNamespaces({ netns: 'x' } as never)).rejects.toThrow(/unknown option 'netns'/);
  });
});

describe('parseCgroup()', () => {
  test.each([
    [
      `0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod${
        POD_UID.replaceAll('-', '_')
      }.slice/cri-containerd-${CONTAINER_A}.scope`,
      CONTAINER_A,
      POD_UID,
    ],
    [`12:memory:/kubepods/burstable/pod${POD_UID}/${CONTAINER_B}\n0::/`, CONTAINER_B, POD_UID],
    [`0::/kubepods.slice/kubepods-pod${POD_UID.replaceAll('-', '_')}.slice/crio-${CONTAINER_A}.scope`, CONTAINER_A,
      POD_UID],
    [`0::/system.slice/docker-${CONTAINER_B}.scope`, CONTAINER_B, undefined],
    [`0::/machine.slice/libpod-${CONTAINER_A}.scope/container`, CONTAINER_A, undefined],
    [`0::/docker/${CONTAINER_B}`, CONTAINER_B, undefined],
    ['0::/user.slice/user-1000.slice/session-3.scope', undefined, undefined],
    [`0::/system.slice/x-${CONTAINER_A}0.scope`, undefined, undefined],
  ])('%s', (text, containerId, podUid) => {
    expect(parseCgroup(text)).toEqual({ ...(containerId && { containerId }), ...(podUid && { podUid }) });
  });
});

describe('mapSettled()', () => {
  test('never more than the bound in flight, results in order, failures per item', async () => {
    let inFlight = 0;
    let peak = 0;
    const r = await mapSettled(Array.from({ length: 40 }, (_, i) => i), async (i) => {
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((res) => setTimeout(res, (i * 7) % 5));
      inFlight--;
      if (i % 10 === 3) throw new Error(`item ${i}`);
      return i * 2;
    }, 3);
    expect(peak).toBe(3);
    expect(r.map((x) => (x.ok ? x.value : (x.error as Error).message))).toEqual(
      Array.from({ length: 40 }, (_, i) => (i % 10 === 3 ? `item ${i}` : i * 2)),
    );
    await expect(mapSettled([1], async () => 1, 0)).rejects.toThrow(RangeError);
  });
});

// The exporter's loss metrics against the kernel's own counters. `nfct exporter` runs as a
// child and is stopped (SIGSTOP) while conntrack events and logged packets pour into its
// sockets, so the kernel drops what its socket buffers cannot hold; after SIGCONT:
// - nfct_conntrack_event_overruns_total is above zero, and the events counted plus the
//   messages the kernel dropped on the exporter's event socket (/proc/net/netlink, Drops)
//   equal the events made (the entries conntrack -C counts);
// - nfct_nflog_packets_lost_total equals the packets the logging rule counted minus those the
//   exporter counted (nfct_nflog_packets_total), and is above zero.
import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { resolve } from 'node:path';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { Conntrack } from '../../lib/index.js';
import { createNetns, type Netns } from '../helpers/netns.js';
import { stderrLine, until } from '../helpers/sentinel.js';
import { flood, netlinkSockets, nftCounter, udpEntries } from '../helpers/streams.js';
import { countEntries } from '../oracle/conntrack-cli.js';

const NFCT = resolve(__dirname, '../../dist/cli/main.js');
const GROUP = 17;
const PORT = 9911;
// ~1,280 bytes each in the socket buffer: more than the 64 MiB it holds (32 MiB asked for, which
// the kernel doubles).
const ENTRIES = 90_000;
// The exporter asks for packet metadata only (~85 bytes a packet in the socket buffer): more
// than its 64 MiB hold.
const PACKETS = 1_000_000;

let ns: Netns;

beforeAll(async () => {
  ns = await createNetns('nfct-exploss');
  await ns.execOk('nft', ['-f', '-'], {
    input:
      `table inet loss {\n chain out { type filter hook output priority 0; udp dport ${PORT} counter log group ${GROUP}; }\n}\n`,
  });
});
afterAll(async () => {
  await ns?.remove();
});

function scrape(port: number): Promise<string> {
  return new Promise((res, rej) => {
    request({ host: '127.0.0.1', port, path: '/metrics' }, (r) => {
      let body = '';
      r.on('data', (d: Buffer) => (body += d.toString()));
      r.on('end', () => res(body));
    })
      .on('error', rej)
      .end();
  });
}

/** The sum of the samples of `name` whose labels include all of `labels`, or undefined when there are none. */
function total(text: string, name: string, labels: Record<string, string>): number | undefined {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  let sum: number | undefined;
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const inner = line.slice(name.length + 1, line.lastIndexOf('}'));
    if (want.every((w) => inner.split(',').includes(w))) {
      sum = (sum ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

const NETLINK_NETFILTER = 12;

describe("nfct exporter, stopped while the kernel produces: the loss metrics equal the kernel's counts", () => {
  let exporter: ChildProcess | undefined;
  afterAll(() => {
    if (exporter?.exitCode === null) {
      exporter.kill('SIGCONT');
      exporter.kill('SIGKILL');
    }
  });

  test('event overruns and NFLOG packets lost', async () => {
    exporter = spawn(process.execPath, [NFCT, 'exporter', '--listen', '127.0.0.1:0', '--events', '--nflog-group',
      String(GROUP), '--netns-regex', `^${ns.name}$`], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const ready = await stderrLine(exporter, /serving https? \/metrics on 127\.0\.0\.1:(\d+)/,
      'the exporter to listen');
    const port = Number(/:(\d+)$/.exec(ready)![1]);
    const lost = (t: string) => total(t, 'nfct_nflog_packets_lost_total', { netns: ns.name, group: String(GROUP) });
    const overruns = (t: string) => total(t, 'nfct_conntrack_event_overruns_total', { netns: ns.name });
    // Its streams in the namespace are running once their series are there (at zero).
    await until(async () => {
      const t = await scrape(port);
      return lost(t) === 0 && overruns(t) === 0;
    }, "the exporter to report the namespace's streams");
    const events = await until(
      async () => (await netlinkSockets(ns)).find((s) => s.protocol === NETLINK_NETFILTER && s.groups !== 0),
      "the exporter's event socket",
    );

    exporter.kill('SIGSTOP');
    try {
      const ct = await Conntrack.open({ netns: ns.name });
      try {
        const r = await ct.createMany(udpEntries(ENTRIES));
        expect(r.failed).toEqual([]);
      } finally {
        await ct.close();
      }
      await flood(ns, PORT, PACKETS);
    } finally {
      exporter.kill('SIGCONT');
    }
    // Nothing reads those sockets while the exporter is stopped: what did not fit was dropped.
    // Every entry in the table made one NEW event (the flood's own flow too).
    const made = await countEntries(ns);
    expect(made).toBe(ENTRIES + 1);
    const sockets = await netlinkSockets(ns);
    const dropped = sockets.find((s) => s.portid === events.portid)!.drops;
    expect(dropped).toBeGreaterThan(0);
    expect(sockets.filter((s) => s.protocol === NETLINK_NETFILTER && s.groups === 0).reduce((n, s) => n + s.drops, 0))
      .toBeGreaterThan(0);

    // Conntrack events: every NEW event is either counted or one the kernel dropped, exactly.
    let last = '';
    const newEvents = (t: string) => total(t, 'nfct_conntrack_events_total', { netns: ns.name, type: 'new' });
    let text = await until(async () => {
      last = await scrape(port);
      return newEvents(last) === made - dropped && last;
    }, `the exporter to count ${made} - ${dropped} new events`, {
      detail: () => last.split('\n').filter((l) => l.includes(ns.name) && /events|overrun/.test(l)).join('; '),
    });
    expect(overruns(text)).toBeGreaterThan(0);
    expect(total(text, 'nfct_conntrack_events_total', { netns: ns.name, type: 'destroy' })).toBe(0);

    // NFLOG: a packet after the loss carries the sequence number that says how many were
    // lost; a marker is logged whenever the figures do not add up yet.
    let logged = 0;
    text = await until(async () => {
      logged = await nftCounter(ns, 'loss');
      const t = await scrape(port);
      const counted = total(t, 'nfct_nflog_packets_total', { netns: ns.name, group: String(GROUP) }) ?? 0;
      if (counted + (lost(t) ?? 0) === logged) return t;
      await ns.execOk('bash', ['-c', `echo m > /dev/udp/127.0.0.1/${PORT}`]);
      return false;
    }, "the NFLOG packets counted and lost to add up to the rule's counter", { every: 200 });
    expect(logged).toBeGreaterThan(PACKETS * 0.99); // the sender's own socket may refuse a few
    expect(lost(text)).toBeGreaterThan(0);
    expect(lost(text)).toBe(
      logged - total(text, 'nfct_nflog_packets_total', { netns: ns.name, group: String(GROUP) })!,
    );
    expect(total(text, 'nfct_nflog_overruns_total', { netns: ns.name, group: String(GROUP) })).toBeGreaterThan(0);

    exporter.kill('SIGTERM');
    expect(await new Promise((r) => exporter!.once('exit', (code) => r(code)))).toBe(0);
  }, 120_000);
});

/**
 * Real IPFIX collectors for the tests, on 127.0.0.1 of the test's own (root) namespace:
 * Debian's nfdump `nfcapd` (UDP only) read back with `nfdump -r ... -o json`, and a TCP sink that
 * writes the byte stream to a file which libfixbuf's `ipfixDump` decodes (an IPFIX-over-TCP
 * stream is a sequence of messages, the same as an IPFIX file).
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createWriteStream, mkdtempSync, readdirSync, rmSync, type WriteStream } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { until } from '../helpers/sentinel.js';

/** A UDP port free on 127.0.0.1 now. */
export async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile(cmd, args, { maxBuffer: 256 << 20 },
      (err, stdout,
        stderr) => (err ? reject(new Error(`${cmd} ${args.join(' ')}: ${err.message} ${stderr}`)) : resolve(stdout)))
  );
}

/** A flow as `nfdump -o json` prints it (the fields the tests read). */
export interface NfdumpFlow {
  proto: number;
  src4_addr?: string;
  dst4_addr?: string;
  src6_addr?: string;
  dst6_addr?: string;
  src_port: number;
  dst_port: number;
  in_packets: number;
  in_bytes: number;
  out_packets?: number;
  out_bytes?: number;
  src4_xlt_ip?: string;
  dst4_xlt_ip?: string;
  src_xlt_port?: string;
  dst_xlt_port?: string;
  first: string;
  last: string;
}

export interface Nfcapd {
  port: number;
  /** Ends nfcapd (SIGTERM: it writes its file) and reads every flow it stored. */
  stop(): Promise<{ flows: NfdumpFlow[]; log: string }>;
  kill(): void;
}

/**
 * Starts nfcapd on 127.0.0.1 (a free port; 4739 inside `netns`, a namespace of the test's own);
 * resolves once it said it started.
 */
export async function startNfcapd(netns?: string): Promise<Nfcapd> {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-nfcapd-'));
  const port = netns ? 4739 : await freeUdpPort();
  const args = ['-w', dir, '-p', String(port), '-b', '127.0.0.1', '-t', '3600', '-B', String(8 << 20)];
  const child: ChildProcess = netns
    ? spawn('ip', ['netns', 'exec', netns, 'nfcapd', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
    : spawn('nfcapd', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  const onData = (d: Buffer) => (log += d.toString());
  child.stdout!.on('data', onData);
  child.stderr!.on('data', onData);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`nfcapd did not start: ${log}`)), 10_000);
    const check = () => {
      if (log.includes('Startup')) {
        clearTimeout(t);
        resolve();
      }
    };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', () => reject(new Error(`nfcapd exited: ${log}`)));
  });
  return {
    port,
    kill: () => child.kill('SIGKILL'),
    async stop() {
      // What was sent is read first: SIGTERM while datagrams wait in nfcapd's socket loses them.
      for (let i = 0; i < 250; i++) {
        const ss = await run(netns ? 'ip' : 'ss',
          netns ? ['netns', 'exec', netns, 'ss', '-Huln', `sport = :${port}`] : ['-Huln', `sport = :${port}`]);
        const recvQ = Number(ss.trim().split(/\s+/)[1] ?? '0');
        if (!(recvQ > 0)) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      child.kill('SIGTERM');
      await exited;
      try {
        const files = readdirSync(dir).filter((f) => f.startsWith('nfcapd.') && f !== 'nfcapd.current');
        const flows: NfdumpFlow[] = [];
        for (const f of files) {
          const text = await run('nfdump', ['-r', join(dir, f), '-o', 'json']);
          // A file with no flow (nfcapd starts a new one at each full hour of the clock) is
          // `[`, "No matching flows", `]`: not JSON.
          if (text.trim() && !/^No matching flows$/m.test(text)) flows.push(...(JSON.parse(text) as NfdumpFlow[]));
        }
        return { flows, log };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** A TCP collector: accepts connections on 127.0.0.1 and appends what they send to one file. */
export interface TcpSink {
  port: number;
  /** Stops listening and cuts every connection (the collector going away). */
  down(): Promise<void>;
  /** Listens again on the same port. */
  up(): Promise<void>;
  /** Connections accepted so far. */
  readonly connections: number;
  /** Whole IPFIX messages read so far, over every connection. */
  readonly messages: number;
  /** Closes everything; the data records ipfixDump decodes from the stream, and the stream's stats. */
  finish(): Promise<{ records: Record<string, string>[]; templates: number; text: string }>;
}

export async function startTcpSink(): Promise<TcpSink> {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-tcpsink-'));
  const file = join(dir, 'stream.ipfix');
  const out: WriteStream = createWriteStream(file);
  const sockets = new Set<Socket>();
  let connections = 0;
  let messages = 0;
  let server: Server | undefined;
  let port = 0;
  const listen = async (): Promise<void> => {
    const s = createServer((sock) => {
      connections++;
      sockets.add(sock);
      // Messages counted by their header's length field (RFC 7011 section 3.1).
      let pending = Buffer.alloc(0);
      sock.on('data', (d: Buffer) => {
        out.write(d);
        pending = Buffer.concat([pending, d]);
        while (pending.length >= 4 && pending.length >= pending.readUInt16BE(2)) {
          const len = pending.readUInt16BE(2);
          if (len < 16) break;
          pending = pending.subarray(len);
          messages++;
        }
      });
      sock.on('close', () => sockets.delete(sock));
      sock.on('error', () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.listen(port, '127.0.0.1', () => resolve());
    });
    port = (s.address() as { port: number }).port;
    server = s;
  };
  await listen();
  const down = async (): Promise<void> => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.destroy();
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  };
  return {
    get port() {
      return port;
    },
    get connections() {
      return connections;
    },
    get messages() {
      return messages;
    },
    down,
    up: listen,
    async finish() {
      try {
        try {
          // An exporter that has closed ends its connection: what it sent is read to the end first.
          await until(() => sockets.size === 0, "the exporter's connections to end", { every: 20 });
        } finally {
          await down();
          await new Promise<void>((resolve) => out.end(() => resolve()));
        }
        const text = await run('ipfixDump', ['-i', file]);
        return { ...parseIpfixDump(text), text };
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}

/** The data records of ipfixDump's text, each as element name -> value text. */
export function parseIpfixDump(text: string): { records: Record<string, string>[]; templates: number } {
  const records: Record<string, string>[] = [];
  let current: Record<string, string> | undefined;
  for (const line of text.split('\n')) {
    if (line.startsWith('--- data record')) {
      current = {};
      records.push(current);
    } else if (line.startsWith('---')) {
      current = undefined;
    } else if (current) {
      const m = /^\s*\(\d+(?:\/\d+)?\)\s+(\S+) : (.*)$/.exec(line);
      if (m) current[m[1]!] = m[2]!.trim();
    }
  }
  const stats = /File Stats: \d+ Messages, \d+ Data Records, (\d+) Template Records/.exec(text);
  return { records, templates: stats ? Number(stats[1]) : 0 };
}

/**
 * KernelLog.file(): a 2M-line kern.log read whole (counts, contents and fields against grep,
 * awk and sha256sum over the same file, memory bounded), followed as `tail -F` does (appends,
 * rotation by rename, truncation, from the end), and what it refuses.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, renameSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { afterAll, describe, expect, test } from 'vitest';

import { KernelLog, type KernelLogItem, type KernelLogStream, NfctError } from '../../lib/index.js';
// @ts-expect-error: a JavaScript module of the benchmarks, without types
import { writeKernLog } from '../../bench/lib/kern-log.mjs';
import { collect } from './collect.js';

const dir = mkdtempSync(join(tmpdir(), 'nfct-kmsg-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const sh = (script: string): string =>
  execFileSync('sh', ['-c', script], { encoding: 'utf8', maxBuffer: 1 << 20 }).trim();

/** A LOG line as rsyslog writes it, its destination port telling it apart. */
const line = (port: number, prefix = 'ft: '): string =>
  `Jun 13 19:58:21 gw kernel: [ 1234.567890] ${prefix}IN=eth0 OUT= MAC=52:54:00:12:34:56:52:54:00:65:43:21:08:00 SRC=10.0.0.1 DST=10.0.0.2 LEN=60 TOS=0x00 PREC=0x00 TTL=64 ID=${port} DF PROTO=TCP SPT=40000 DPT=${port} WINDOW=64240 RES=0x00 SYN URGP=0 \n`;

describe('a 2M-line kern.log', () => {
  test('every LOG and TRACE line read, its text and fields as grep, awk and sha256sum read them, memory bounded',
    async () => {
      const file = join(dir, 'kern.log');
      const counts = writeKernLog(file, 2_000_000, { seed: 28 }) as { lines: number; log: number; trace: number;
        tracePackets: number; other: number };
      expect(counts.lines).toBe(2_000_000);
      // The oracles, over the same file: LOG lines (IN= but not TRACE), their messages hashed,
      // their destination ports summed (not those of a packet an ICMP error quotes).
      const logLines = Number(sh(`grep ' IN=' ${file} | grep -vc 'kernel: \\[[ 0-9.]*\\] TRACE: '`));
      const traceLines = Number(sh(`grep -c 'kernel: \\[[ 0-9.]*\\] TRACE: ' ${file}`));
      const digest =
        sh(`grep ' IN=' ${file} | grep -v 'kernel: \\[[ 0-9.]*\\] TRACE: ' | sed 's/^[^]]*\\] //' | sha256sum`).split(
          ' ',
        )[0];
      const dptSum = Number(
        sh(
          `grep ' IN=' ${file} | grep -v 'kernel: \\[[ 0-9.]*\\] TRACE: ' | awk '{ for (i = 1; i <= NF; i++) { if (substr($i, 1, 5) == "[SRC=") break; if (substr($i, 1, 4) == "DPT=") { s += substr($i, 5); break } } } END { printf "%.0f", s }'`,
        ),
      );
      expect([logLines, traceLines]).toEqual([counts.log, counts.trace]);

      const stream = KernelLog.file(file);
      const hash = createHash('sha256');
      let packets = 0;
      let dpt = 0;
      let traces = 0;
      let hops = 0;
      const kinds = new Map<string, number>();
      for await (const item of stream) {
        kinds.set(item.type, (kinds.get(item.type) ?? 0) + 1);
        if (item.type === 'packet') {
          packets++;
          hash.update(`${item.message}\n`, 'latin1');
          dpt += item.dpt ?? 0;
        } else if (item.type === 'trace') {
          traces++;
          hops += item.hops.length;
        }
      }
      expect(stream.stats).toMatchObject({ received: 2_000_000, malformed: 0 });
      expect([packets, hops, traces]).toEqual([counts.log, counts.trace, counts.tracePackets]);
      expect(hash.digest('hex')).toBe(digest);
      expect(dpt).toBe(dptSum);
      expect([...kinds.keys()].sort()).toEqual(['packet', 'trace']);
      // The reader keeps a few batches ahead of the consumer, whatever the file's size.
      expect(stream.stats.peakBytes).toBeLessThan(4 << 20);
      rmSync(file);
    }, 300_000);
});

/** Ports the `collect` of the test running now has read. */
let seen: number[] = [];

/** Items of a followed file until `done` says stop (the ports of its packets in `seen`); fails after `ms`. */
function collectFile(stream: KernelLogStream, done: (items: KernelLogItem[]) => boolean,
  act: () => Promise<void> | void, ms = 10_000): Promise<KernelLogItem[]>
{
  seen = [];
  return collect(stream, done, act, ms, (item) => {
    if (item.type === 'packet') seen.push(item.dpt!);
  });
}

const ports = (items: KernelLogItem[]): number[] => items.flatMap((i) => (i.type === 'packet' ? [i.dpt!] : []));

describe('following a file (tail -F)', () => {
  test('appends, rotation by rename (the old file read to its end first), then the new file from its start', async () => {
    const file = join(dir, 'rotated.log');
    writeFileSync(file, line(1) + line(2));
    const stream = KernelLog.file(file, { follow: true });
    const items = await collectFile(
      stream,
      (got) => ports(got).includes(7),
      async () => {
        // Each step waits until the lines before it were read: a sentinel, not a sleep.
        await until(() => seen.includes(2));
        appendFileSync(file, line(3));
        await until(() => seen.includes(3));
        renameSync(file, `${file}.1`);
        // The writer has not reopened yet: its last lines still go to the renamed file.
        appendFileSync(`${file}.1`, line(4) + line(5));
        writeFileSync(file, line(6));
        appendFileSync(file, line(7));
      },
    );
    expect(ports(items)).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(stream.fileTally).toMatchObject({ rotations: 1, truncations: 0 });
  });

  test('truncation (copytruncate): from the start again', async () => {
    // As for tail -F, a truncation shows as the file being shorter than what was read: it
    // is told from an append while what is written after it is shorter than what was before.
    const file = join(dir, 'truncated.log');
    writeFileSync(file, line(1) + line(2) + line(3));
    const stream = KernelLog.file(file, { follow: true });
    const items = await collectFile(
      stream,
      (got) => ports(got).includes(9),
      async () => {
        await until(() => seen.includes(3));
        truncateSync(file, 0);
        appendFileSync(file, line(8) + line(9));
      },
    );
    expect(ports(items)).toEqual([1, 2, 3, 8, 9]);
    expect(stream.fileTally).toMatchObject({ truncations: 1 });
  });

  test("from: 'end' reads only what is written after the start; a last line without its newline is read at the end", async () => {
    const file = join(dir, 'end.log');
    writeFileSync(file, line(1));
    const stream = KernelLog.file(file, { follow: true, from: 'end' });
    const items = await collectFile(
      stream,
      (got) => ports(got).includes(3),
      async () => {
        // The stream has opened the file once a first line written now is read.
        for (let i = 0; i < 50 && !seen.includes(2); i++) {
          appendFileSync(file, line(2));
          await until(() => seen.includes(2), 200).catch(() => undefined);
        }
        appendFileSync(file, line(3));
      },
    );
    expect(ports(items).filter((p) => p !== 2)).toEqual([3]);
    const partial = join(dir, 'partial.log');
    writeFileSync(partial, line(1) + line(2).trimEnd());
    const all: KernelLogItem[] = [];
    for await (const item of KernelLog.file(partial)) all.push(item);
    expect(ports(all)).toEqual([1, 2]);
  });
});

/** Resolves once `check` holds; rejects after `ms`. */
async function until(check: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting for the stream');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('bounds and refusals', () => {
  test('a line longer than maxLineBytes is skipped and counted, the lines around it read', async () => {
    const file = join(dir, 'long.log');
    writeFileSync(file, line(1) + 'x'.repeat(5000) + '\n' + line(2));
    const stream = KernelLog.file(file, { maxLineBytes: 1024 });
    const items: KernelLogItem[] = [];
    for await (const item of stream) items.push(item);
    expect(ports(items)).toEqual([1, 2]);
    expect(stream.stats.malformed).toBe(1);
    expect(stream.fileTally?.oversized).toBe(1);
  });

  test('a file that cannot be read fails the call with NfctError; bad options are TypeErrors naming the option', () => {
    expect(() => KernelLog.file(join(dir, 'missing.log'))).toThrow(NfctError);
    try {
      KernelLog.file(join(dir, 'missing.log'));
    } catch (e) {
      expect(e).toMatchObject({ code: 'ENOENT' });
    }
    expect(() => KernelLog.file(dir)).toThrow(expect.objectContaining({ code: 'EISDIR' }) as Error);
    expect(() => KernelLog.file(join(dir, 'x'), { from: 'now' as never })).toThrow(/options\.from/);
    expect(() => KernelLog.file(join(dir, 'x'), { src: '10.0.0.300' })).toThrow(TypeError);
    expect(() => KernelLog.file(join(dir, 'x'), { src: '10.0.0.300' })).toThrow(/options\.src/);
    expect(() => KernelLog.file(join(dir, 'x'), { port: 70000 })).toThrow(RangeError);
    expect(() => KernelLog.file(join(dir, 'x'), { protocol: 'tcpp' })).toThrow(/options\.protocol/);
    expect(() => KernelLog.file(join(dir, 'x'), { wat: 1 } as never)).toThrow(/unknown option 'wat'/);
    expect(() => KernelLog.file(join(dir, 'x'), { packets: false, traces: false })).toThrow(TypeError);
    expect(() => KernelLog.file(-1)).toThrow(/path/);
    expect(() => KernelLog.kmsg({ from: 'end' as never })).toThrow(/options\.from/);
  });

  test('filters: only the packets asked for are built', async () => {
    const file = join(dir, 'filter.log');
    writeFileSync(file, line(1, 'a: ') + line(2, 'b: ') + line(3, 'a: '));
    const got = async (o: Parameters<typeof KernelLog.file>[1]): Promise<number[]> => {
      const items: KernelLogItem[] = [];
      for await (const item of KernelLog.file(file, o)) items.push(item);
      return ports(items);
    };
    expect(await got({ prefix: 'a' })).toEqual([1, 3]);
    expect(await got({ dstPort: 2 })).toEqual([2]);
    expect(await got({ port: 40000, protocol: 'udp' })).toEqual([]);
    expect(await got({ src: '10.0.0.0/24', dst: '10.0.0.2' })).toEqual([1, 2, 3]);
    expect(await got({ family: 'ipv6' })).toEqual([]);
  });
});

// IPFIX transports to one collector each: UDP (templates sent again every templateRefresh
// seconds, RFC 7011 section 8.4) and TCP (templates once per connection; reconnects with
// back-off; messages not handed to the kernel when a connection breaks are sent again on the
// next; what does not fit the queue is dropped and counted). Sequence numbers count the data
// records sent per observation domain, so a collector counts what it missed.
import type { Socket as UdpSocket } from 'node:dgram';
import type { Socket } from 'node:net';

import { ipFamily } from '../core/address.js';
import { builtin } from '../core/builtins.js';
import { NfctError } from '../core/errors.js';
import { describeValue } from '../core/validate.js';
import { type Chunk, MESSAGE_HEADER, TEMPLATE_COUNT, templateSet, writeHeader } from './ipfix.js';

/** How records reach a collector. */
export type Transport = 'udp' | 'tcp';

/** An IPFIX collector: where to send, and over what. */
export interface CollectorSpec {
  /** Its host name or address. */
  host: string;
  /** Its port (4739 is IPFIX's). */
  port: number;
  /** UDP or TCP. */
  transport: Transport;
}

/** `HOST:PORT`, `[IPV6]:PORT`, with `udp://` (the default) or `tcp://` before it. */
export function parseCollector(text: unknown, option: string): CollectorSpec {
  if (typeof text !== 'string') {
    throw new TypeError(
      `${option} must be HOST:PORT (or udp://HOST:PORT, tcp://HOST:PORT), got ${describeValue(text)}`,
    );
  }
  const m = /^(?:(udp|tcp):\/\/)?(?:\[([^\]]+)\]|([^:[\]/]+)):(\d{1,5})$/.exec(text);
  if (!m) {
    throw new TypeError(
      `${option} must be HOST:PORT (or udp://HOST:PORT, tcp://HOST:PORT), got ${describeValue(text)}`,
    );
  }
  const host = m[2] ?? m[3]!;
  if (m[2] !== undefined && ipFamily(host) !== 6) {
    throw new TypeError(`${option}: ${describeValue(host)} in brackets is not an IPv6 address`);
  }
  const port = Number(m[4]);
  if (port < 1 || port > 65535) throw new RangeError(`${option} port must be between 1 and 65535, got ${port}`);
  return { host, port, transport: (m[1] as Transport | undefined) ?? 'udp' };
}

export function collectorName(c: CollectorSpec): string {
  return `${c.transport}://${c.host.includes(':') ? `[${c.host}]` : c.host}:${c.port}`;
}

/** What one collector was sent and lost. */
export interface CollectorStats {
  /** The collector, as `udp://HOST:PORT` or `tcp://HOST:PORT`. */
  collector: string;
  /** UDP or TCP. */
  transport: Transport;
  /** UDP: the socket is set up; TCP: a connection is open. */
  connected: boolean;
  /** Messages handed to the kernel (templates included). */
  messages: number;
  /** Data records in them. */
  records: number;
  /**
   * UDP: data records of those messages that the collector's host refused (its ICMP port
   * unreachable, which the socket reports as ECONNREFUSED); counted in `lost` too. A lower
   * bound: refusals that come together are reported as one.
   */
  refused: number;
  /**
   * Data records dropped: a send that failed, a message refused (`refused`), a queue past its
   * bound (TCP down or too slow).
   */
  lost: number;
  /** TCP: connections made after the first. */
  reconnects: number;
  /** Bytes waiting to be sent (TCP). */
  queuedBytes: number;
  /** The last error, as `CODE: message`. */
  lastError?: string;
}

interface Domain {
  /** Data records sent so far (the next message's sequence number). */
  sequence: number;
  /** Shapes whose templates this collector knows. */
  announced: number;
  /** Shapes used so far (sent again on refresh or a new connection). */
  used: number;
  /** When templates were last sent (ms). */
  templatesAt: number;
}

/** A message of the templates of every record shape a domain has used so far. */
function templateMessage(d: Domain, domain: number, exportTime: number): Buffer {
  const t = templateSet(shapesOf(d.used));
  const msg = Buffer.allocUnsafe(MESSAGE_HEADER + t.length);
  t.copy(msg, MESSAGE_HEADER);
  writeHeader(msg, exportTime, d.sequence, domain);
  return msg;
}

/** @internal */
export interface CollectorOptions {
  templateRefresh: number;
  maxQueueBytes: number;
  onError?: (collector: string, error: Error) => void;
}

/** Shapes as the list of bits set. */
function shapesOf(mask: number): number[] {
  const out: number[] = [];
  for (let s = 0; s < TEMPLATE_COUNT; s++) if (mask & (1 << s)) out.push(s);
  return out;
}

/** @internal */
export abstract class Collector {
  readonly name: string;
  protected readonly domains = new Map<number, Domain>();
  protected readonly s: CollectorStats;

  constructor(readonly spec: CollectorSpec, protected readonly o: CollectorOptions) {
    this.name = collectorName(spec);
    this.s = { collector: this.name, transport: spec.transport, connected: false, messages: 0, records: 0, refused: 0,
      lost: 0, reconnects: 0, queuedBytes: 0 };
  }

  get stats(): CollectorStats {
    return { ...this.s, queuedBytes: this.queued() };
  }

  protected queued(): number {
    return 0;
  }

  protected fail(e: Error): void {
    const code = (e as NodeJS.ErrnoException).code;
    this.s.lastError = code ? `${code}: ${e.message}` : e.message;
    this.o.onError?.(this.name, e);
  }

  /** Whether templates must go (again) before data of these shapes. */
  protected abstract refreshDue(d: Domain, now: number): boolean;

  /** Hands a message to the transport; `records` is what it carries (0 for templates). */
  protected abstract put(msg: Buffer, records: number): void;

  /** Sends the chunks of one observation domain (templates first where needed). */
  send(domain: number, chunks: readonly Chunk[]): void {
    let d = this.domains.get(domain);
    if (!d) this.domains.set(domain, d = { sequence: 0, announced: 0, used: 0, templatesAt: 0 });
    const now = Date.now();
    const exportTime = Math.floor(now / 1000);
    for (const c of chunks) {
      d.used |= c.shapes;
      if ((c.shapes & ~d.announced) !== 0 || this.refreshDue(d, now)) {
        this.put(templateMessage(d, domain, exportTime), 0);
        d.announced = d.used;
        d.templatesAt = now;
      }
      const msg = Buffer.allocUnsafe(MESSAGE_HEADER + c.body.length);
      c.body.copy(msg, MESSAGE_HEADER);
      writeHeader(msg, exportTime, d.sequence, domain);
      d.sequence = (d.sequence + c.records) >>> 0;
      this.put(msg, c.records);
    }
  }

  abstract start(): Promise<void>;
  /** Sends what is queued (TCP: for up to `ms`), then closes. */
  abstract close(ms: number): Promise<void>;
}

/** Looks the host up once, so that a bad name fails at open, with its own words. */
async function resolve(spec: CollectorSpec, option: string): Promise<{ address: string; family: 4 | 6 }> {
  const family = ipFamily(spec.host);
  if (family === 4 || family === 6) return { address: spec.host, family };
  const { lookup } = await import('node:dns/promises');
  try {
    const r = await lookup(spec.host);
    return { address: r.address, family: r.family === 6 ? 6 : 4 };
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new NfctError(2, 'getaddrinfo',
      `${option}: cannot resolve ${describeValue(spec.host)} (${err.code ?? err.message})`, 'IPFIX collector');
  }
}

/**
 * How long a UDP message sent may still be refused: a host's ICMP port unreachable comes back
 * within a round trip.
 */
const REFUSAL_WINDOW_MS = 2000;
/** At most this many messages sent are remembered for refusals (the oldest go first). */
const REFUSAL_MEMORY = 4096;

/** @internal */
export class UdpCollector extends Collector {
  private socket: UdpSocket | undefined;
  private pendingBytes = 0;
  /**
   * The messages sent within REFUSAL_WINDOW_MS and not yet refused, oldest first: their records
   * and when. The kernel says a connected socket's datagram was refused, not which one (that
   * would take its error queue, IP_RECVERR, which Node does not read): a refusal comes within a
   * round trip of its message, so it is put on the one sent last. Refusals that come before
   * the socket is read again are reported as one, so the count is a lower bound.
   */
  private sent: { records: number; at: number }[] = [];
  /** Where the remembered ones start in `sent` (the array is cut now and then). */
  private first = 0;

  async start(): Promise<void> {
    const { address, family } = await resolve(this.spec, this.name);
    const socket = builtin('node:dgram').createSocket(family === 6 ? 'udp6' : 'udp4');
    this.socket = socket;
    socket.on('error', (e) => {
      if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.refused();
      this.fail(e);
    });
    await new Promise<void>((ok, bad) => {
      socket.once('error', bad);
      socket.connect(this.spec.port, address, () => {
        socket.off('error', bad);
        ok();
      });
    }).catch((thrown: unknown) => {
      socket.close();
      const e = thrown as NodeJS.ErrnoException; // what socket's 'error' event gives
      throw new NfctError(Math.abs(typeof e.errno === 'number' ? e.errno : 22), 'connect', `${this.name}: ${e.message}`,
        'IPFIX collector');
    });
    this.s.connected = true;
  }

  protected refreshDue(d: Domain, now: number): boolean {
    return now - d.templatesAt >= this.o.templateRefresh * 1000;
  }

  protected override queued(): number {
    return this.pendingBytes;
  }

  protected put(msg: Buffer, records: number): void {
    const socket = this.socket;
    if (!socket || this.pendingBytes + msg.length > this.o.maxQueueBytes) {
      this.s.lost += records;
      return;
    }
    this.pendingBytes += msg.length;
    socket.send(msg, (err) => {
      this.pendingBytes -= msg.length;
      if (err) {
        // Not sent. ECONNREFUSED here is the refusal of a message sent before, said at this send.
        if ((err as NodeJS.ErrnoException).code === 'ECONNREFUSED') this.refused();
        this.s.lost += records;
        this.fail(err);
      } else {
        this.s.messages++;
        this.s.records += records;
        this.sent.push({ records, at: Date.now() });
        if (this.sent.length - this.first > REFUSAL_MEMORY) this.first++;
        if (this.first >= 1024 && this.first * 2 >= this.sent.length) {
          this.sent = this.sent.slice(this.first);
          this.first = 0;
        }
      }
    });
  }

  /** The collector's host refused a message: the last one sent within the window. */
  private refused(): void {
    const since = Date.now() - REFUSAL_WINDOW_MS;
    while (this.first < this.sent.length && this.sent[this.first]!.at < since) this.first++;
    if (this.first >= this.sent.length) return;
    const m = this.sent.pop()!;
    this.s.refused += m.records;
    this.s.lost += m.records;
  }

  async close(): Promise<void> {
    const socket = this.socket;
    this.socket = undefined;
    this.s.connected = false;
    if (!socket) return;
    // Sends already queued by libuv complete before close's callback.
    await new Promise<void>((ok) => socket.close(() => ok()));
  }
}

/** @internal */
export class TcpCollector extends Collector {
  private socket: Socket | undefined;
  private queue: { msg: Buffer; records: number }[] = [];
  private queueBytes = 0;
  private inFlightBytes = 0;
  private closing = false;
  private timer: NodeJS.Timeout | undefined;
  private backoff = 250;
  private connections = 0;
  private address: { address: string; family: 4 | 6 } | undefined;

  async start(): Promise<void> {
    this.address = await resolve(this.spec, this.name);
    this.dial();
  }

  protected refreshDue(): boolean {
    return false;
  }

  protected override queued(): number {
    return this.queueBytes + this.inFlightBytes;
  }

  private dial(): void {
    if (this.closing || !this.address) return;
    const socket = builtin('node:net').connect({ host: this.address.address, port: this.spec.port,
      family: this.address.family });
    socket.setNoDelay(true);
    this.socket = socket;
    socket.once('connect', () => {
      if (this.connections++ > 0) this.s.reconnects++;
      this.s.connected = true;
      this.backoff = 250;
      // A new connection knows no templates: each domain's go first.
      for (const d of this.domains.values()) d.announced = 0;
      const waiting = this.queue;
      this.queue = [];
      this.queueBytes = 0;
      this.resendTemplates();
      for (const m of waiting) this.put(m.msg, m.records);
    });
    socket.on('error', (e) => this.fail(e));
    socket.once('close', () => {
      this.s.connected = false;
      if (this.socket === socket) this.socket = undefined;
      if (this.closing) return;
      this.timer = setTimeout(() => this.dial(), this.backoff);
      this.timer.unref();
      this.backoff = Math.min(this.backoff * 2, 10_000);
    });
  }

  /** Templates of every domain known so far, at the head of a new connection. */
  private resendTemplates(): void {
    const exportTime = Math.floor(Date.now() / 1000);
    for (const [domain, d] of this.domains) {
      if (d.used === 0) continue;
      this.write(templateMessage(d, domain, exportTime), 0);
      d.announced = d.used;
    }
  }

  protected put(msg: Buffer, records: number): void {
    if (this.socket && this.s.connected) {
      if (this.inFlightBytes + msg.length > this.o.maxQueueBytes) {
        this.s.lost += records;
        return;
      }
      this.write(msg, records);
      return;
    }
    if (this.queueBytes + msg.length > this.o.maxQueueBytes) {
      this.s.lost += records;
      return;
    }
    // Templates are sent afresh on connect: only data waits.
    if (records === 0) return;
    this.queue.push({ msg, records });
    this.queueBytes += msg.length;
  }

  private write(msg: Buffer, records: number): void {
    const socket = this.socket!;
    this.inFlightBytes += msg.length;
    socket.write(msg, (err) => {
      this.inFlightBytes -= msg.length;
      if (err) {
        // Never handed to the kernel: it goes again on the next connection (or is counted lost there).
        if (records > 0) {
          this.queue.push({ msg, records });
          this.queueBytes += msg.length;
        }
        return;
      }
      this.s.messages++;
      this.s.records += records;
    });
  }

  async close(ms: number): Promise<void> {
    const socket = this.socket;
    const drained = new Promise<void>((ok) => {
      if (!socket || !this.s.connected || this.inFlightBytes === 0) {
        ok();
        return;
      }
      const t = setTimeout(ok, ms);
      socket.once('drain', () => {
        clearTimeout(t);
        ok();
      });
      socket.once('close', () => {
        clearTimeout(t);
        ok();
      });
    });
    await drained;
    this.closing = true;
    if (this.timer) clearTimeout(this.timer);
    // What never left is lost.
    for (const m of this.queue) this.s.lost += m.records;
    this.queue = [];
    this.queueBytes = 0;
    if (socket && this.s.connected) await new Promise<void>((ok) => socket.end(() => ok()));
    socket?.destroy();
    this.s.connected = false;
  }
}

// An IPFIX exporting process: flow records encoded once per batch and sent to one or more
// collectors, each with its own transport, sequence numbers and templates. The observation
// domain of a record is its network namespace's inode.
import { assertKnownKeys, assertObject, describeValue, optionalInteger } from '../core/validate.js';
import { type Collector, type CollectorSpec, type CollectorStats, parseCollector, TcpCollector,
  UdpCollector } from './collector.js';
import { IpfixEncoder } from './ipfix.js';
import type { FlowRecord } from './record.js';
import type { FlowItem } from './stream.js';

/** Where an IpfixExporter sends its records, and how it packs them. */
export interface IpfixExporterOptions {
  /** Where to send: `HOST:PORT` (UDP), `udp://HOST:PORT`, `tcp://HOST:PORT`, or objects. */
  collectors: readonly (string | CollectorSpec)[];
  /** The largest message, in bytes (default 1400: one Ethernet frame with room for tunnels). */
  maxMessageSize?: number;
  /** UDP: seconds between template re-sends (default 60). */
  templateRefresh?: number;
  /** Bytes waiting per collector (TCP down or slow, UDP sends queued) before records are dropped and counted (default 16 MiB). */
  maxQueueBytes?: number;
  /** Called on each transport error (a refused send, a broken connection); the exporter goes on. */
  onError?: (collector: string, error: Error) => void;
  /** Observation domain of records without a namespace (default 0). */
  defaultDomain?: number;
}

/** Totals of an exporter. */
export interface IpfixExporterStats {
  /** Records given to export(). */
  records: number;
  /** What each collector was sent and lost, in the order of the `collectors` option. */
  collectors: CollectorStats[];
}

/**
 * Sends flow records (ct.flows()) as IPFIX (RFC 7011) to one or more collectors, over UDP or
 * TCP, with the templates they need.
 */
export class IpfixExporter implements AsyncDisposable {
  readonly #encoder: IpfixEncoder;
  #records = 0;
  #closed = false;

  readonly #collectors: Collector[];
  readonly #defaultDomain: number;

  private constructor(collectors: Collector[], maxMessage: number, defaultDomain: number) {
    this.#collectors = collectors;
    this.#defaultDomain = defaultDomain;
    this.#encoder = new IpfixEncoder(maxMessage, 0);
  }

  /**
   * Validates the options, resolves every collector's host and opens its socket (a TCP
   * collector that is not listening yet is retried in the background). Bad options are
   * TypeError/RangeError; a host that does not resolve is an NfctError.
   */
  static async open(options: IpfixExporterOptions): Promise<IpfixExporter> {
    const where = 'IpfixExporter.open() options';
    assertObject(options, where);
    assertKnownKeys(options, ['collectors', 'maxMessageSize', 'templateRefresh', 'maxQueueBytes', 'onError',
      'defaultDomain'], where);
    if (!Array.isArray(options.collectors) || options.collectors.length === 0) {
      throw new TypeError(`${where}.collectors must be a non-empty array, got ${describeValue(options.collectors)}`);
    }
    const specs = options.collectors.map((c, i) => (typeof c === 'string'
      ? parseCollector(c, `${where}.collectors[${i}]`)
      : checkSpec(c, `${where}.collectors[${i}]`))
    );
    const maxMessage = optionalInteger(options.maxMessageSize, `${where}.maxMessageSize`, 256, 65_507) ?? 1400;
    const templateRefresh = optionalInteger(options.templateRefresh, `${where}.templateRefresh`, 1, 86_400) ?? 60;
    const maxQueueBytes = optionalInteger(options.maxQueueBytes, `${where}.maxQueueBytes`, 65_536, 2 ** 31 - 1) ??
      16 << 20;
    const defaultDomain = optionalInteger(options.defaultDomain, `${where}.defaultDomain`, 0, 0xffffffff) ?? 0;
    if (options.onError !== undefined && typeof options.onError !== 'function') {
      throw new TypeError(`${where}.onError must be a function, got ${describeValue(options.onError)}`);
    }
    const o = { templateRefresh, maxQueueBytes, onError: options.onError };
    const collectors = specs.map((s) => (s.transport === 'tcp' ? new TcpCollector(s, o) : new UdpCollector(s, o)));
    try {
      await Promise.all(collectors.map((c) => c.start()));
    } catch (e) {
      await Promise.all(collectors.map((c) => c.close(0)));
      throw e;
    }
    return new IpfixExporter(collectors, maxMessage, defaultDomain);
  }

  /** Encodes the records (a batch at a time) and sends them to every collector. Overrun items are skipped. */
  export(items: readonly (FlowRecord | FlowItem)[]): void {
    if (this.#closed) throw new Error('IpfixExporter: export() after close()');
    let from = 0;
    // Runs of one namespace go as one observation domain.
    while (from < items.length) {
      const domain = domainOf(items[from]!, this.#defaultDomain);
      let to = from + 1;
      while (to < items.length && domainOf(items[to]!, this.#defaultDomain) === domain) to++;
      const records = items.slice(from, to).filter((r): r is FlowRecord => r.type === 'flow');
      if (records.length > 0) {
        this.#records += records.length;
        const chunks = this.#encoder.encode(records);
        for (const c of this.#collectors) c.send(domain, chunks);
      }
      from = to;
    }
  }

  /** Records given so far, and per collector what was sent and lost. */
  get stats(): IpfixExporterStats {
    return { records: this.#records, collectors: this.#collectors.map((c) => c.stats) };
  }

  /** Sends what waits (TCP: for up to `waitMs`, default 2000), then closes every socket. Idempotent. */
  async close(waitMs = 2000): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await Promise.all(this.#collectors.map((c) => c.close(waitMs)));
  }

  /** Closes the exporter when the `await using` block that declared it ends, as close() does. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

function domainOf(item: FlowRecord | FlowItem, fallback: number): number {
  return item.type === 'flow' ? (item.netns?.inode ?? fallback) : fallback;
}

function checkSpec(c: unknown, where: string): CollectorSpec {
  assertObject(c, where);
  assertKnownKeys(c, ['host', 'port', 'transport'], where);
  const transport = c.transport ?? 'udp';
  if (transport !== 'udp' && transport !== 'tcp') {
    throw new TypeError(`${where}.transport must be 'udp' or 'tcp', got ${describeValue(transport)}`);
  }
  if (typeof c.host !== 'string' || c.host === '') {
    throw new TypeError(`${where}.host must be a host name or address, got ${describeValue(c.host)}`);
  }
  const port = optionalInteger(c.port, `${where}.port`, 1, 65535);
  if (port === undefined) throw new TypeError(`${where}.port is required`);
  return { host: c.host, port, transport };
}

// Legacy TRACE lines of the kernel log grouped per packet, into the TracePacket items Trace
// yields. A line has no trace id: the hops of one packet share the hash of its header fields
// (KLOG_HOPID), and a packet's trace ends when no hop of it came for `idleMs`, by the kernel's
// clock while lines come, by the wall clock while none do, or when the stream ends.
import type { TracePacket } from '../trace/types.js';
import type { KernelHop } from './decode.js';

/** Open packets at most: past it the one idle longest is ended (memory stays flat). */
const MAX_OPEN = 10_000;
/** Hops of one packet at most: a packet's trip through the rules is far shorter. */
const MAX_HOPS = 1000;

interface Group {
  pkt: TracePacket;
  /** The kernel's time of its last hop, ms. */
  last: number;
  /** When its last hop was read, ms. */
  wall: number;
}

/** The kernel's time of a hop, ms: its time since boot, or its wall-clock time. */
function hopTime(h: KernelHop): number {
  return h.log.kernelTime !== undefined ? h.log.kernelTime * 1000 : Number(h.timestamp / 1_000_000n);
}

export class HopGroups {
  /** By hop id, in the order of their last hop (a Map keeps insertion order: re-inserted on each hop). */
  /** @internal */ private readonly open = new Map<number, Group>();

  /** @internal */
  private readonly idleMs: number;

  constructor(idleMs: number) {
    this.idleMs = idleMs;
  }

  get size(): number {
    return this.open.size;
  }

  /** @internal */ private end(id: number, g: Group, out: TracePacket[]): void {
    this.open.delete(id);
    out.push(g.pkt);
  }

  /** The packet idle longest (the first in the map), or undefined. */
  /** @internal */ private oldest(): Group | undefined {
    return this.open.values().next().value;
  }

  /** Adds a hop, read at `now` (ms since the epoch); packets it shows to have ended go to `out`. */
  add(hop: KernelHop, out: TracePacket[], now = Date.now()): void {
    const t = hopTime(hop);
    for (let g = this.oldest(); g !== undefined && t - g.last > this.idleMs; g = this.oldest()) {
      this.end(g.pkt.id, g, out);
    }
    let g = this.open.get(hop.id);
    if (g && g.pkt.hops.length >= MAX_HOPS) {
      // The same header again and again (a retransmission, a loop): a packet of its own.
      this.end(hop.id, g, out);
      g = undefined;
    }
    if (g) this.open.delete(hop.id);
    else {
      g = {
        pkt: { type: 'trace', id: hop.id, source: hop.source, family: hop.family, hops: [], packet: undefined,
          dropped: false },
        last: t,
        wall: 0,
      };
    }
    g.pkt.hops.push(hop);
    const v = hop.verdict;
    if (v && v !== 'continue' && v !== 'jump' && v !== 'goto' && v !== 'return') g.pkt.verdict = v;
    g.last = t;
    g.wall = now;
    this.open.set(hop.id, g);
    if (this.open.size > MAX_OPEN) this.end(this.oldest()!.pkt.id, this.oldest()!, out);
  }

  /** Milliseconds until the packet idle longest is due by the wall clock; undefined when none is open. */
  wait(): number | undefined {
    const first = this.oldest();
    return first === undefined ? undefined : Math.max(0, first.wall + this.idleMs - Date.now());
  }

  /** Packets idle by the wall clock. */
  expire(out: TracePacket[]): void {
    const now = Date.now();
    for (let g = this.oldest(); g !== undefined && now - g.wall >= this.idleMs; g = this.oldest()) {
      this.end(g.pkt.id, g, out);
    }
  }

  /** Every open packet (the stream ended). */
  flush(out: TracePacket[]): void {
    for (const [id, g] of this.open) this.end(id, g, out);
  }
}

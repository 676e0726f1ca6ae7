// Which nftables traces are a stream's own. The kernel sends every trace event of a namespace
// to every listener, so two tracers there each receive the other's packets. A stream with a
// match selected its packets with its own marking rule (`meta nftrace set 1` in its temporary
// table), and that rule's hop leads the trace: the marking tables run at priority -350, before
// any other table of the hook. A trace is the stream's when the hop of its own marking rule is
// among the leading marking hops of that trace id (a packet two tracers select is both's); when
// the trace's first hop seen is past the marking tables (the kernel's queue overran, or the
// packet was marked before them), the headers that hop carries are matched against the
// stream's match instead; without headers the trace cannot be told and is left out, counted.
import type { DecodedPacket } from '../packet/types.js';
import { TABLE_PREFIX } from './state.js';
import type { TraceEvent } from './types.js';

/** Trace ids remembered at most (each a few hops while undecided, a flag after). */
const MAX_IDS = 8192;

interface IdState {
  /** true: ours; false: another's; undefined: still in the marking tables, not yet told. */
  ours: boolean | undefined;
  /** Still among the leading hops of the marking tables. */
  marking: boolean;
  /** The marking hops seen while undecided. */
  held: TraceEvent[];
}

/** What a stream left out because its marking rule did not select the packet. */
export interface TraceSelectionStats {
  /** Traces selected by another rule (another tracer's, or whatever else set nftrace). */
  others: number;
  /** Traces whose marking hop was not seen (lost in an overrun) and whose headers could not be matched: left out. */
  unattributed: number;
}

/** @internal Keeps a stream's own traces: hops in, the hops to hand on out. */
export class TraceSelection {
  private readonly ids = new Map<number, IdState>();
  readonly stats: TraceSelectionStats = { others: 0, unattributed: 0 };

  /**
   * @param ownTable the stream's marking table, once it has one (until then no trace is ours)
   * @param selects whether headers are of a packet the stream's match selects
   */
  constructor(
    private readonly ownTable: () => string | undefined,
    private readonly selects: (packet: DecodedPacket) => boolean,
  ) {}

  /**
   * One hop, in the order the kernel sent them, with the headers the kernel sent with it
   * (not those a later hop inherits). Resolves the hops to hand on now: none, this one, or
   * the held marking hops of a trace just found ours and this one.
   */
  admit(hop: TraceEvent, sentHeaders: DecodedPacket | undefined): TraceEvent[] {
    let st = this.ids.get(hop.id);
    if (hop.family === 'inet' && hop.table.startsWith(TABLE_PREFIX)) {
      // A marking hop after hops past the marking tables starts another packet's trace: the
      // kernel reuses ids (they derive from the packet's buffer).
      if (!st?.marking) {
        st = { ours: undefined, marking: true, held: [] };
        this.remember(hop.id, st);
      }
      if (st.ours === undefined && hop.kind === 'rule' && hop.table === this.ownTable()) st.ours = true;
      if (st.ours) {
        const out = st.held.length > 0 ? [...st.held, hop] : [hop];
        st.held = [];
        return out;
      }
      st.held.push(hop);
      return [];
    }
    if (!st) {
      // Its first hop seen is past the marking tables: judged by its headers, if it has them.
      const ours = sentHeaders !== undefined && this.ownTable() !== undefined && this.selects(sentHeaders);
      if (!ours) this.stats[sentHeaders === undefined ? 'unattributed' : 'others']++;
      st = { ours, marking: false, held: [] };
      this.remember(hop.id, st);
    } else if (st.marking) {
      st.marking = false;
      st.held = [];
      if (st.ours === undefined) {
        st.ours = false;
        this.stats.others++;
      }
    }
    return st.ours ? [hop] : [];
  }

  private remember(id: number, st: IdState): void {
    this.ids.delete(id);
    this.ids.set(id, st);
    if (this.ids.size <= MAX_IDS) return;
    // The oldest goes; one still undecided was another's (ours would have been told at once).
    const [oldId, old] = this.ids.entries().next().value!;
    this.ids.delete(oldId);
    if (old.ours === undefined) this.stats.others++;
  }
}

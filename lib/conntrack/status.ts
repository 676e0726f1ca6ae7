/** IPS_* bit names in bit order (bit 0 = EXPECTED), as conntrack prints them. */
export const STATUS_NAMES = [
  'EXPECTED',
  'SEEN_REPLY',
  'ASSURED',
  'CONFIRMED',
  'SRC_NAT',
  'DST_NAT',
  'SEQ_ADJUST',
  'SRC_NAT_DONE',
  'DST_NAT_DONE',
  'DYING',
  'FIXED_TIMEOUT',
  'TEMPLATE',
  'UNTRACKED',
  'HELPER',
  'OFFLOAD',
  'HW_OFFLOAD',
] as const;

/** Names of the IPS_* status bits, as conntrack prints them. */
export type StatusName = (typeof STATUS_NAMES)[number];

const bitOf = new Map<string, number>(STATUS_NAMES.map((n, i) => [n, i]));

/** Resolves a status name (any case) to its bit, or undefined. */
export function statusBit(name: string): number | undefined {
  return bitOf.get(name.toUpperCase());
}

/**
 * The status bits of a flow: the raw value plus a named predicate per bit.
 * Serialises to the list of set bit names.
 */
export class Status {
  constructor(
    /** The status bits as the kernel keeps them (IPS_*). */
    readonly bits: number,
  ) {}

  /** Whether the named bit is set (any case: 'assured' works too). */
  has(name: StatusName | Lowercase<StatusName>): boolean {
    const bit = bitOf.get(name.toUpperCase());
    return bit !== undefined && (this.bits & (1 << bit)) !== 0;
  }

  /** Names of the set bits, in bit order; unnamed bits as BIT_n. */
  names(): string[] {
    const out: string[] = [];
    for (let i = 0; i < 32; i++) {
      if ((this.bits >>> i) & 1) out.push(STATUS_NAMES[i] ?? `BIT_${i}`);
    }
    return out;
  }

  /** EXPECTED: the entry was created from an expectation (a helper related it to a master). */
  get expected(): boolean {
    return (this.bits & 0x1) !== 0;
  }
  /** SEEN_REPLY: packets have been seen in both directions. */
  get seenReply(): boolean {
    return (this.bits & 0x2) !== 0;
  }
  /** ASSURED: an established exchange; the entry is not dropped early when the table fills. */
  get assured(): boolean {
    return (this.bits & 0x4) !== 0;
  }
  /** CONFIRMED: the entry is in the table (its first packet left the hooks). */
  get confirmed(): boolean {
    return (this.bits & 0x8) !== 0;
  }
  /** SRC_NAT: the source is to be rewritten (SNAT, masquerade). */
  get srcNat(): boolean {
    return (this.bits & 0x10) !== 0;
  }
  /** DST_NAT: the destination is to be rewritten (DNAT, a Service). */
  get dstNat(): boolean {
    return (this.bits & 0x20) !== 0;
  }
  /** SEQ_ADJUST: TCP sequence numbers are adjusted (a helper changed a payload length). */
  get seqAdjust(): boolean {
    return (this.bits & 0x40) !== 0;
  }
  /** SRC_NAT_DONE: the source NAT is set up. */
  get srcNatDone(): boolean {
    return (this.bits & 0x80) !== 0;
  }
  /** DST_NAT_DONE: the destination NAT is set up. */
  get dstNatDone(): boolean {
    return (this.bits & 0x100) !== 0;
  }
  /** DYING: the entry is being removed. */
  get dying(): boolean {
    return (this.bits & 0x200) !== 0;
  }
  /** FIXED_TIMEOUT: the timeout does not change with the protocol state. */
  get fixedTimeout(): boolean {
    return (this.bits & 0x400) !== 0;
  }
  /** TEMPLATE: a template entry (ct zone, ct helper rules), not a connection. */
  get template(): boolean {
    return (this.bits & 0x800) !== 0;
  }
  /** UNTRACKED: a packet marked notrack. */
  get untracked(): boolean {
    return (this.bits & 0x1000) !== 0;
  }
  /** HELPER: a helper was assigned explicitly (a ct helper rule). */
  get helper(): boolean {
    return (this.bits & 0x2000) !== 0;
  }
  /** OFFLOAD: the flow is handled by the flowtable fast path. */
  get offload(): boolean {
    return (this.bits & 0x4000) !== 0;
  }
  /** HW_OFFLOAD: the flow is offloaded to the network card. */
  get hwOffload(): boolean {
    return (this.bits & 0x8000) !== 0;
  }

  /** The names of the set bits: what JSON.stringify() writes. */
  toJSON(): string[] {
    return this.names();
  }
}

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
  constructor(readonly bits: number) {}

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

  get expected(): boolean { return (this.bits & 0x1) !== 0; }
  get seenReply(): boolean { return (this.bits & 0x2) !== 0; }
  get assured(): boolean { return (this.bits & 0x4) !== 0; }
  get confirmed(): boolean { return (this.bits & 0x8) !== 0; }
  get srcNat(): boolean { return (this.bits & 0x10) !== 0; }
  get dstNat(): boolean { return (this.bits & 0x20) !== 0; }
  get seqAdjust(): boolean { return (this.bits & 0x40) !== 0; }
  get srcNatDone(): boolean { return (this.bits & 0x80) !== 0; }
  get dstNatDone(): boolean { return (this.bits & 0x100) !== 0; }
  get dying(): boolean { return (this.bits & 0x200) !== 0; }
  get fixedTimeout(): boolean { return (this.bits & 0x400) !== 0; }
  get template(): boolean { return (this.bits & 0x800) !== 0; }
  get untracked(): boolean { return (this.bits & 0x1000) !== 0; }
  get helper(): boolean { return (this.bits & 0x2000) !== 0; }
  get offload(): boolean { return (this.bits & 0x4000) !== 0; }
  get hwOffload(): boolean { return (this.bits & 0x8000) !== 0; }

  toJSON(): string[] {
    return this.names();
  }
}

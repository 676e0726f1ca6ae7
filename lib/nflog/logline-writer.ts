// The writer of a LOG line (logline-format.ts, logline-ip.ts): the text so far, the packet it
// describes, the flags chosen, and the kernel's ways of printing bytes.
import type { NflogPacket } from './types.js';

/** The optional parts of the line, as LogLineOptions resolves them. */
export interface Flags {
  tcpSequence: boolean;
  tcpOptions: boolean;
  ipOptions: boolean;
  uid: boolean;
  macDecode: boolean;
}

export const hex2 = (v: number): string => v.toString(16).padStart(2, '0');
export const HEX2 = (v: number): string => hex2(v).toUpperCase();
export const hex4 = (v: number): string => v.toString(16).padStart(4, '0');

/** `%pM`: six bytes as lowercase colon-separated hex. */
export function mac(b: Uint8Array, o: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push(hex2(b[o + i]!));
  return parts.join(':');
}

/** The option bytes as the kernel prints them: `%02X` each, no separator. */
export function hexUpper(b: Uint8Array, o: number, n: number): string {
  let s = '';
  for (let i = 0; i < n; i++) s += HEX2(b[o + i]!);
  return s;
}

/** The text writer and the packet it describes. */
export class Line {
  out = '';
  constructor(
    readonly buf: Buffer,
    readonly flags: Flags,
    readonly packet: NflogPacket,
  ) {}

  add(s: string): void {
    this.out += s;
  }

  /**
   * skb->len - offset: what the packet holds from `offset` on, as the kernel's unsigned
   * arithmetic has it (an offset past the end, after a header that claims more than is there,
   * wraps around: `INCOMPLETE [4294967278 bytes]` is real kernel output).
   */
  rest(offset: number): number {
    return (this.buf.length - offset) >>> 0;
  }

  has(offset: number, n: number): boolean {
    return offset >= 0 && this.buf.length - offset >= n;
  }
}

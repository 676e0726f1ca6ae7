// What a conntrack command line asks for, once read (parse.ts), and how reading it fails.
import { CliExit } from './messages.js';
import type { CommandName, OptName, OutputWord } from './options.js';

export interface Address {
  text: string;
  family: 4 | 6;
  /** Prefix length from ADDR/N (only -s/-d), or undefined. */
  prefix?: number;
}
export interface NatTarget {
  address: string;
  port?: number;
}

export interface CtRequest {
  command: CommandName;
  table: 'conntrack' | 'expect' | 'dying' | 'unconfirmed';
  /** conntrack options given (bits of OPT). */
  options: number;
  has(name: OptName): boolean;
  /** 0 unspecified, 4, 6. */
  family: 0 | 4 | 6;
  proto?: { num: number; kind: string };
  /** Protocol option index -> value (see KINDS). */
  l4: Map<number, string>;
  src?: Address;
  dst?: Address;
  replySrc?: Address;
  replyDst?: Address;
  maskSrc?: Address;
  maskDst?: Address;
  tupleSrc?: Address;
  tupleDst?: Address;
  timeout?: number;
  status: { value: number; mask: number };
  events: number;
  output: Set<OutputWord>;
  snat?: NatTarget;
  dnat?: NatTarget;
  mark?: { value: number; mask: number };
  secmark?: number;
  id?: number;
  zone?: number;
  origZone?: number;
  replyZone?: number;
  labels?: number[];
  labelAdd?: number[];
  /** undefined: not given; null: delete every label. */
  labelDel?: number[] | null;
  bufferSize?: number;
  json: boolean;
  netns?: string;
  pid?: number;
  /** --pod NAMESPACE/NAME: the network namespace of that pod of the node. */
  pod?: string;
  /** --pod-log-dir DIR: where the kubelet's pod log directories are (default /var/log/pods). */
  podLogDir?: string;
  /** --services: each entry annotated with the Service of its original destination. */
  services: boolean;
  /** --all-netns: the command in every network namespace of the node. */
  allNetns: boolean;
  labelNames?: Map<number, string>;
}

export const problem = (message: string): never => {
  throw new CliExit(2, message, true);
};
export const otherProblem = (message: string): never => {
  throw new CliExit(1, message);
};

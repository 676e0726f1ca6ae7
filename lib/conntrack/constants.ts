// Conntrack's own numbers and names: protocol states in kernel order, ctnetlink message types,
// per-CPU statistics attributes.
import type { DccpState, SctpState, TcpState } from './types.js';

/** Conntrack's TCP states in kernel order (enum tcp_conntrack). */
export const TCP_STATES: readonly TcpState[] = [
  'NONE',
  'SYN_SENT',
  'SYN_RECV',
  'ESTABLISHED',
  'FIN_WAIT',
  'CLOSE_WAIT',
  'LAST_ACK',
  'TIME_WAIT',
  'CLOSE',
  'SYN_SENT2',
];

export const SCTP_STATES: readonly SctpState[] = [
  'NONE',
  'CLOSED',
  'COOKIE_WAIT',
  'COOKIE_ECHOED',
  'ESTABLISHED',
  'SHUTDOWN_SENT',
  'SHUTDOWN_RECD',
  'SHUTDOWN_ACK_SENT',
  'HEARTBEAT_SENT',
  'HEARTBEAT_ACKED',
];

export const DCCP_STATES: readonly DccpState[] = [
  'NONE',
  'REQUEST',
  'RESPOND',
  'PARTOPEN',
  'OPEN',
  'CLOSEREQ',
  'CLOSING',
  'TIMEWAIT',
  'IGNORE',
  'INVALID',
];

/** ctnetlink message types (IPCTNL_MSG_CT_*). */
export const CT_MSG = {
  NEW: 0,
  GET: 1,
  DELETE: 2,
  GET_CTRZERO: 3,
  GET_STATS_CPU: 4,
  GET_STATS: 5,
  GET_DYING: 6,
  GET_UNCONFIRMED: 7,
} as const;

/** Per-CPU statistics attributes (CTA_STATS_*) by number; unknown numbers keep theirs. */
export const CPU_STAT_NAMES: Readonly<Record<number, string>> = {
  1: 'searched',
  2: 'found',
  3: 'new',
  4: 'invalid',
  5: 'ignore',
  6: 'delete',
  7: 'delete_list',
  8: 'insert',
  9: 'insert_failed',
  10: 'drop',
  11: 'early_drop',
  12: 'error',
  13: 'search_restart',
  14: 'clash_resolve',
  15: 'chaintoolong',
};

// The head and fields of an NDJSON line (see ndjson.ts, which re-exports these): apart, so that a
// command printing one line (nfct -C --json) loads no flow or namespace code.
import { isoTime, jsonSafe } from '../core/json.js';

/** Where a line's `time` came from (`log`: the time a log file gives the line). */
export type TimeSource = 'kernel' | 'log' | 'received';

/** ISO 8601 (milliseconds) of nanoseconds since the epoch (see isoTime()). */
export function isoOfNs(ns: bigint): string {
  return isoTime(ns);
}

/** Now, as ISO 8601; made once per millisecond (the lines of one batch share it). */
export function receivedNow(): string {
  return isoTime(undefined);
}

/** The start of a line, `{"type":"T","time":"...","timeSource":"..."`: append `,...}` or `}`. */
export function lineHead(type: string, time: string, source: string): string {
  return `{"type":"${type}","time":"${time}","timeSource":"${source}"`;
}

/** An object's JSON text with a line head in front of its fields. */
export function withHead(head: string, json: string): string {
  return json.length <= 2 ? `${head}}` : `${head},${json.slice(1)}`;
}

/** A line: the head, then the object's fields (`undefined` ones left out, bigints as strings). */
export function line(type: string, time: string, source: TimeSource, fields: object): string {
  return withHead(lineHead(type, time, source), JSON.stringify(jsonSafe(fields)));
}

// JSON of everything the library yields: bigints as decimal strings, binary fields (payloads,
// hardware headers and addresses) as hex strings, undefined fields left out, and values that
// know their own JSON form (Status: its names; flows, stream items) asked for it.

/** A JSON-safe copy of `value` (what `JSON.stringify` of any item of the library gives). */
export function jsonSafe(value: unknown): unknown {
  if (value instanceof Uint8Array) return Buffer.from(value.buffer, value.byteOffset, value.byteLength).toString('hex');
  if (value !== null && typeof value === 'object' && typeof (value as { toJSON?: unknown }).toJSON === 'function') {
    return (value as { toJSON(): unknown }).toJSON();
  }
  return plainJson(value);
}

/** jsonSafe of the value's own fields, without asking the value itself for its JSON form. */
export function plainJson(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array) return jsonSafe(value);
  if (Array.isArray(value)) return value.map(jsonSafe);
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) if (v !== undefined) out[k] = jsonSafe(v);
    return out;
  }
  return value;
}

/** Base of the stream items: `JSON.stringify(item)` gives jsonSafe(item). */
export class JsonItem {
  toJSON(): Record<string, unknown> {
    return plainJson(this) as Record<string, unknown>;
  }
}

/**
 * Wall-clock ns (a bigint, as items carry their timestamps) as an ISO 8601 time: the `time`
 * every NDJSON line carries; now when there is none.
 */
export function isoTime(ns: bigint | undefined): string {
  const ms = ns === undefined ? Date.now() : Number(ns / 1_000_000n);
  // Lines of a burst share their millisecond (of a syslog file, their second): formatted once.
  if (ms !== lastMs) {
    lastMs = ms;
    lastIso = new Date(ms).toISOString();
  }
  return lastIso;
}
let lastMs = NaN;
let lastIso = '';

// What `nfct top` does with the keys pressed in its screen: a small state machine over the raw
// bytes of stdin (keys, arrows, a filter being typed, a delete being confirmed), and the one
// thing a key can ask of the command beyond redrawing: deleting a group's entries, with the
// filter (deleteWhere's) that selects exactly them.
import type { FlowFilter } from '../../conntrack/filter.js';
import type { TopGroup, TopSort } from './top-view.js';

/** What the screen shows: the table, the key help, the filter being typed, a question. */
export type TopMode = 'view' | 'help' | 'filter' | 'confirm';

export interface TopUiState {
  mode: TopMode;
  /** The --by keys ('src/16'). */
  by: string[];
  sort: TopSort;
  interval: number;
  /** Only groups whose key text holds this (case-insensitive). */
  filter: string;
  /** The filter as it is being typed. */
  draft: string;
  /** Index of the selected row among the groups shown. */
  selected: number;
  /** A line for the operator: what a key did, or why it did nothing. */
  status: string;
  /** The command line's filter (-p), which a delete keeps. */
  base: FlowFilter;
  /** The group a delete waits to be confirmed for, and the filter that selects its entries. */
  pending?: { group: TopGroup; filter: FlowFilter };
}

/** What the command must do after the keys. */
export type TopAction = { kind: 'redraw' } | { kind: 'quit' } | {
  kind: 'delete';
  group: TopGroup;
  filter: FlowFilter;
};

/** The keys, as `?` shows them. */
export const KEY_HELP: readonly [string, string][] = [
  ['?', 'show or hide this help'],
  ['g / G', 'group by the next / previous key'],
  ['s', 'sort by entries, packets, bytes'],
  ['+ / -', 'slower / faster (the interval)'],
  ['/', 'filter groups by text (Enter applies, Esc clears)'],
  ['up / down, k / j', 'select a group'],
  ['d', "delete the selected group's entries (asks first)"],
  ['Esc', 'clear the filter and the selection'],
  ['q, Ctrl-C', 'quit'],
];

const SORTS: readonly TopSort[] = ['count', 'packets', 'bytes'];

/** Splits raw input into keys: escape sequences (arrows) stay whole. */
export function splitKeys(data: string): string[] {
  const keys: string[] = [];
  for (let i = 0; i < data.length;) {
    if (data[i] === '\x1b' && (data[i + 1] === '[' || data[i + 1] === 'O') && i + 2 < data.length) {
      keys.push(data.slice(i, i + 3));
      i += 3;
    } else {
      const cp = data.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      keys.push(ch);
      i += ch.length;
    }
  }
  return keys;
}

const UP = new Set(['\x1b[A', '\x1bOA', 'k']);
const DOWN = new Set(['\x1b[B', '\x1bOB', 'j']);

/**
 * Applies the keys to the state; `shown` are the groups on screen now, `cycle` the group-by
 * keys g/G go through. Returns what the command must do (in order).
 */
export function pressKeys(s: TopUiState, data: string, shown: readonly TopGroup[],
  cycle: readonly string[]): TopAction[]
{
  const actions: TopAction[] = [];
  for (const key of splitKeys(data)) {
    if (key === '\x03') {
      actions.push({ kind: 'quit' });
      return actions;
    }
    switch (s.mode) {
      case 'help':
        s.mode = 'view';
        break;
      case 'filter':
        if (key === '\r' || key === '\n') {
          s.filter = s.draft;
          s.mode = 'view';
          s.selected = 0;
          s.status = s.filter ? `filter: ${s.filter}` : 'filter cleared';
        } else if (key === '\x1b') {
          s.mode = 'view';
          s.status = s.filter ? `filter: ${s.filter}` : '';
        } else if (key === '\x7f' || key === '\b') s.draft = s.draft.slice(0, -1);
        else if (key === '\x15') s.draft = '';
        else if (key >= ' ' && key.length === 1) s.draft += key;
        break;
      case 'confirm': {
        const p = s.pending;
        s.mode = 'view';
        s.pending = undefined;
        if ((key === 'y' || key === 'Y') && p) actions.push({ kind: 'delete', ...p });
        else s.status = 'nothing deleted';
        break;
      }
      default:
        if (key === 'q') {
          actions.push({ kind: 'quit' });
          return actions;
        }
        if (key === '?' || key === 'h') s.mode = 'help';
        else if (key === 'g' || key === 'G') {
          const at = cycle.indexOf(s.by[0]!);
          s.by = [cycle[(at + (key === 'g' ? 1 : cycle.length - 1)) % cycle.length]!];
          s.selected = 0;
        } else if (key === 's') s.sort = SORTS[(SORTS.indexOf(s.sort) + 1) % SORTS.length]!;
        else if (key === '+') s.interval = Math.min(60, s.interval * 2);
        else if (key === '-') s.interval = Math.max(0.25, s.interval / 2);
        else if (key === '/') {
          s.mode = 'filter';
          s.draft = s.filter;
        } else if (UP.has(key)) s.selected = Math.max(0, s.selected - 1);
        else if (DOWN.has(key)) s.selected = Math.min(Math.max(0, shown.length - 1), s.selected + 1);
        else if (key === '\x1b') {
          s.filter = '';
          s.selected = 0;
          s.status = '';
        } else if (key === 'd') {
          const g = shown[s.selected];
          const f = g && groupFilter(g.key, s.base);
          if (!g || !f) s.status = 'no group selected';
          // Refused before asking: no filter selects exactly this group's entries.
          else if ('reason' in f) s.status = `cannot delete the selected group: ${f.reason}`;
          else {
            s.pending = { group: g, filter: f.filter };
            s.mode = 'confirm';
          }
        } else continue;
    }
    actions.push({ kind: 'redraw' });
  }
  return actions;
}

/** An address key with the prefix its groups are cut at (`src/16`: IPv4 /16, IPv6 /64). */
export interface PrefixKey {
  key: 'src' | 'dst' | 'replySrc';
  ipv4: number;
  ipv6: number;
}

/** Parses `KEY/LEN` or `KEY/LEN/LEN6` of an address key; undefined when the text has no slash. */
export function parsePrefixKey(text: string): PrefixKey | undefined {
  if (!text.includes('/')) return undefined;
  const m = /^(src|dst|replySrc)\/(\d{1,3})(?:\/(\d{1,3}))?$/.exec(text);
  if (!m) {
    throw new RangeError(
      `--by ${text}: a prefix goes with src, dst or replySrc, as src/16 (IPv4 /16, IPv6 /64) or src/16/48`,
    );
  }
  const ipv4 = Number(m[2]);
  const ipv6 = m[3] === undefined ? 64 : Number(m[3]);
  if (ipv4 > 32) {
    throw new RangeError(`--by ${text}: the IPv4 prefix must be 0 to 32 (an IPv6 one goes second: ${m[1]}/24/${ipv4})`);
  }
  if (ipv6 > 128) throw new RangeError(`--by ${text}: the IPv6 prefix must be 0 to 128`);
  return { key: m[1] as PrefixKey['key'], ipv4, ipv6 };
}

/** Group keys that are the filter field of the same name, with the value the key has. */
const SAME_AS_FILTER = new Set<string>(['family', 'protocol', 'src', 'dst', 'replySrc', 'srcPort', 'dstPort', 'mark',
  'zone']);

/** A group's key as the filter of exactly its entries, or why there is none. */
export function groupFilter(key: TopGroup['key'], base: FlowFilter): { filter: FlowFilter } | { reason: string } {
  const f: FlowFilter = { ...base };
  for (const [k, v] of Object.entries(key) as [string, unknown][]) {
    if (k === 'netns') continue; // the namespace is chosen by the caller
    if (v === null || v === undefined) return { reason: `its ${k} is empty, which no filter selects` };
    if (SAME_AS_FILTER.has(k)) {
      (f as Record<string, unknown>)[k] = v;
      continue;
    }
    switch (k) {
      case 'state':
        if (base.protocol !== undefined && base.protocol !== 'tcp' && base.protocol !== 6) {
          return { reason: 'only TCP states can be selected' };
        }
        f.state = v as NonNullable<FlowFilter['state']>;
        break;
      case 'dnat':
      case 'snat': {
        const { address, port } = splitTarget(v as string);
        const dnat = k === 'dnat';
        f.status = [...statusList(f.status), dnat ? 'DST_NAT' : 'SRC_NAT'];
        if (dnat) f.replySrc = address;
        else f.replyDst = address;
        if (port !== undefined) {
          if (dnat) f.replySrcPort = port;
          else f.replyDstPort = port;
        }
        break;
      }
      default:
        return {
          reason:
            `a group by ${k} is not one filter (nfct -D selects entries by address, port, protocol, mark, zone, state, NAT target)`,
        };
    }
  }
  return { filter: f };
}

function statusList(s: FlowFilter['status']): NonNullable<Exclude<FlowFilter['status'], string>>[number][] {
  return s === undefined ? [] : typeof s === 'string' ? [s] : [...s];
}

/** `10.0.0.5:53`, `[fd00::5]:53`, or an address alone. */
function splitTarget(t: string): { address: string; port?: number } {
  const v6 = /^\[(.*)\]:(\d+)$/.exec(t);
  if (v6) return { address: v6[1]!, port: Number(v6[2]) };
  const v4 = /^([^:]+):(\d+)$/.exec(t);
  return v4 ? { address: v4[1]!, port: Number(v4[2]) } : { address: t };
}

/** The groups the text filter lets through (any key's text holds it, case-insensitive). */
export function filterGroups(groups: readonly TopGroup[], by: readonly string[], text: string,
  keyTexts: (key: object, by: readonly string[]) => string[]): TopGroup[]
{
  if (!text) return [...groups];
  const t = text.toLowerCase();
  return groups.filter((g) => keyTexts(g.key, by).some((v) => v.toLowerCase().includes(t)));
}

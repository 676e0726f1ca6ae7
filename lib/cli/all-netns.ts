// `nfct -L|-C|-S|-E --all-netns`: the command in every network namespace of the node, a bounded
// number at once; text lines start with `[namespace]`, NDJSON objects carry a `netns` object.
import { Conntrack, type ListOptions } from '../conntrack/handle.js';
import type { EventType } from '../conntrack/events.js';
import { jsonSafe } from '../conntrack/flow.js';
import * as fmt from '../conntrack/text.js';
import { DEFAULT_CONCURRENCY, mapSettled } from '../core/concurrency.js';
import { NfctError } from '../core/errors.js';
import { listNamespaces, namespaceLabel, type NetworkNamespace } from '../core/namespaces.js';
import { one, type Parsed } from './args.js';
import { Exit, filterOf, origin, outputOptions, postFilter, say } from './main.js';

/** The most event streams -E --all-netns keeps open (one socket and reader thread each). */
const MAX_EVENT_STREAMS = 256;
/** How often -E --all-netns looks for namespaces that came or went (ms). */
const RESCAN_MS = 5000;

/** The `netns` object of an NDJSON line. */
export function netnsJson(ns: NetworkNamespace): Record<string, unknown> {
  const o: Record<string, unknown> = { label: namespaceLabel(ns), inode: ns.inode, names: ns.names, path: ns.path };
  if (ns.podUid) o.podUid = ns.podUid;
  if (ns.containerIds.length > 0) o.containerIds = ns.containerIds;
  return o;
}

const write = (text: string): void => void process.stdout.write(text);

/** Prefixes every line of `text` with the namespace's label. */
function marked(ns: NetworkNamespace, text: string): string {
  const tag = `[${namespaceLabel(ns)}] `;
  return text.replace(/^(?=.)/gm, tag);
}

/** A namespace gone since it was listed is skipped; any other failure is reported and fails the run. */
function failed(ns: NetworkNamespace, e: unknown): boolean {
  if (e instanceof NfctError && (e.code === 'ENOENT' || e.code === 'EINVAL')) return false;
  say(`[${namespaceLabel(ns)}] Operation failed: ${e instanceof Error ? e.message : String(e)}`);
  return true;
}

async function inEvery<R>(fn: (ct: Conntrack, ns: NetworkNamespace) => Promise<R>): Promise<{ ns: NetworkNamespace; value: R }[]> {
  const all = await listNamespaces();
  const results = await mapSettled(all, async (ns) => {
    const ct = await Conntrack.open({ netns: ns.path });
    try {
      return await fn(ct, ns);
    } finally {
      ct.close();
    }
  }, DEFAULT_CONCURRENCY);
  let bad = false;
  const ok: { ns: NetworkNamespace; value: R }[] = [];
  for (const r of results) {
    if (r.ok) ok.push({ ns: r.item, value: r.value });
    else bad = failed(r.item, r.error) || bad;
  }
  if (bad) process.exitCode = 1;
  return ok;
}

export async function allNetnsCommand(p: Parsed): Promise<void> {
  switch (p.command) {
    case 'L': {
      if (p.table === 'expect') throw new TypeError('--all-netns lists the conntrack, dying and unconfirmed tables');
      const query: ListOptions = { ...filterOf(p), table: p.table === 'conntrack' ? undefined : p.table };
      if (p.options.has('zero')) query.zeroCounters = true;
      const keep = postFilter(p);
      const { modes, options } = outputOptions(p);
      if (modes.has('xml')) throw new TypeError('--all-netns does not write -o xml');
      const shown = await inEvery(async (ct, ns) => {
        const netns = netnsJson(ns);
        let n = 0;
        for await (const batch of ct.list(query).batches()) {
          let text = '';
          for (const f of batch) {
            if (!keep(f)) continue;
            n++;
            if (p.json) text += `${JSON.stringify({ ...(jsonSafe(f) as object), netns })}\n`;
            else text += `${modes.has('save') ? fmt.formatSave(f) : fmt.formatFlow(f, options)}\n`;
          }
          if (text) write(p.json ? text : marked(ns, text));
        }
        return n;
      });
      say(`${shown.reduce((s, r) => s + r.value, 0)} flow entries have been shown.`);
      return;
    }
    case 'C': {
      for (const { ns, value } of await inEvery((ct) => ct.count())) {
        write(p.json ? `${JSON.stringify({ netns: netnsJson(ns), count: value })}\n` : `[${namespaceLabel(ns)}] ${value}\n`);
      }
      return;
    }
    case 'S': {
      for (const { ns, value } of await inEvery((ct) => ct.stats())) {
        if (p.json) for (const row of value) write(`${JSON.stringify({ ...row, netns: netnsJson(ns) })}\n`);
        else write(marked(ns, fmt.formatCpuStats(value)));
      }
      return;
    }
    case 'E':
      return allEvents(p);
    default:
      throw new Exit(2);
  }
}

/** -E in every namespace: a stream each (at most MAX_EVENT_STREAMS), namespaces followed as they come and go. */
async function allEvents(p: Parsed): Promise<void> {
  const mask = one(p, 'event-mask');
  const types = mask ? mask.split(',').map((t) => t.toLowerCase() as EventType) : undefined;
  const { options } = outputOptions(p);
  const keep = postFilter(p);
  const filter = filterOf(p);
  const buffer = Number(one(p, 'buffer-size') ?? 0);
  const ac = new AbortController();
  const stop = (): void => ac.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  const running = new Map<number, { ct: Conntrack; done: Promise<void> }>();
  let shown = 0;
  let warned = false;

  const start = async (ns: NetworkNamespace): Promise<void> => {
    const ct = await Conntrack.open({ netns: ns.path });
    const stream = ct.events({ ...filter, types, signal: ac.signal, bufferSize: buffer >= 4096 ? buffer : undefined });
    const netns = netnsJson(ns);
    const done = (async () => {
      try {
        for await (const ev of stream) {
          if (ev.type === 'overrun') {
            say(`[${namespaceLabel(ns)}] WARNING: the kernel dropped events (${ev.overruns} overruns so far)`);
          } else if ((ev.type === 'new' || ev.type === 'update' || ev.type === 'destroy') && keep(ev.flow)) {
            shown++;
            write(p.json
              ? `${JSON.stringify({ ...(jsonSafe(ev) as object), netns })}\n`
              : marked(ns, `${fmt.formatEvent(ev, { ...options, userspace: origin(ev.portid) })}\n`));
          }
        }
      } catch (e) {
        if (failed(ns, e)) process.exitCode = 1;
      } finally {
        ct.close();
      }
    })();
    running.set(ns.inode, { ct, done });
  };

  const rescan = async (): Promise<void> => {
    const all = await listNamespaces();
    const live = new Set(all.map((n) => n.inode));
    for (const [inode, r] of running) {
      if (!live.has(inode)) {
        r.ct.close(); // ends its stream, and frees the namespace
        running.delete(inode);
      }
    }
    const fresh = all.filter((n) => !running.has(n.inode));
    const room = MAX_EVENT_STREAMS - running.size;
    if (fresh.length > room && !warned) {
      warned = true;
      say(`WARNING: events are read from ${MAX_EVENT_STREAMS} namespaces at most; ${fresh.length - room} left out`);
    }
    const results = await mapSettled(fresh.slice(0, Math.max(0, room)), start, DEFAULT_CONCURRENCY);
    for (const r of results) if (!r.ok && failed(r.item, r.error)) process.exitCode = 1;
  };

  await rescan();
  while (!ac.signal.aborted) {
    await new Promise<void>((resolve) => {
      const t = setTimeout(resolve, RESCAN_MS);
      ac.signal.addEventListener('abort', () => {
        clearTimeout(t);
        resolve();
      }, { once: true });
    });
    if (!ac.signal.aborted) await rescan();
  }
  for (const r of running.values()) r.ct.close();
  await Promise.all([...running.values()].map((r) => r.done));
  say(`${shown} flow events have been shown.`);
}

// `nfct top` running: a frame every interval (or at once after a key), drawn full-screen in a
// terminal, as plain lines or NDJSON otherwise; in a terminal the keys of top-keys.ts act on
// it, and a confirmed `d` deletes the selected group's entries through deleteWhere in each
// namespace the group covers.
import type { FlowFilter } from '../../conntrack/filter.js';
import { grouped } from '../numbers.js';
import { KEY_HELP, pressKeys, type TopUiState } from './top-keys.js';
import { describeGroup, renderFrame, type TopGroup, type TopKey, topLine, type TopSnapshot } from './top-view.js';
import { GroupHistory, NamespaceSampler, snapshot, type TopOptions } from './top.js';

const KEY_CYCLE = (
  all: boolean,
): TopKey[] => [...(all ? (['netns'] as TopKey[]) : []), 'src', 'dst', 'dstPort', 'protocol', 'state', 'dnat',
  'service', 'snat', 'replySrc', 'srcPort', 'mark', 'zone', 'status', 'family'];

const sleep = (ms: number, signal: AbortSignal): Promise<void> =>
  new Promise((resolve) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      resolve();
    }, { once: true });
  });

/** `N entries`, `1 entry`. */
const entries = (n: number): string => `${grouped(n)} entr${n === 1 ? 'y' : 'ies'}`;

/** The entries a delete of group `g` takes: the group, and the protocol -p keeps. */
const deleteTarget = (g: TopGroup, o: TopOptions, snap: TopSnapshot): string =>
  `${describeGroup(g, snap.keys)}${o.filter.protocol !== undefined ? ` (protocol ${o.filter.protocol})` : ''}`;

/**
 * Deletes a group's entries (those `filter` selects) in each namespace it covers; resolves what
 * to tell the operator.
 */
async function deleteGroup(samplers: readonly NamespaceSampler[], o: TopOptions, snap: TopSnapshot, g: TopGroup,
  filter: FlowFilter): Promise<string>
{
  const what = deleteTarget(g, o, snap);
  const where = g.key.netns !== undefined ? samplers.filter((s) => s.target.label === g.key.netns) : samplers;
  let deleted = 0;
  const failed: string[] = [];
  for (const s of where) {
    try {
      deleted += await s.ct.deleteWhere(filter);
    } catch (e) {
      failed.push(`[${s.target.label}] ${(e as Error).message}`);
    }
  }
  return `deleted ${entries(deleted)} of ${what}${failed.length > 0 ? `; failed: ${failed.join('; ')}` : ''}`;
}

/** Runs `nfct top`; resolves when the user quits (or after one snapshot with --once). */
export async function runTop(o: TopOptions): Promise<void> {
  const out = process.stdout;
  const screen = out.isTTY === true && !o.json && !o.once;
  const samplers: NamespaceSampler[] = [];
  const quit = new AbortController();
  let wake = new AbortController();
  const onSignal = (): void => quit.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  // The reader of stdout went away (`nfct top | head -1`): nfct ends quietly, as -L does; any
  // other write error also ends it, since nothing written could be seen.
  let closed = false;
  const onError = (): void => {
    closed = true;
    quit.abort();
  };
  out.on('error', onError);
  const stdin = process.stdin;
  const cycle = KEY_CYCLE(o.targets.length > 1);
  const ui: TopUiState = { mode: 'view', by: [...o.by], sort: o.sort, interval: o.interval, filter: '', draft: '',
    selected: 0, status: '', base: o.filter };
  const history = new GroupHistory();
  const filterText = o.filter.protocol !== undefined ? `protocol ${o.filter.protocol}` : undefined;
  let last: TopSnapshot | undefined;
  let rows = out.rows ?? 24;
  let draw = (): void => undefined;
  let busy = Promise.resolve();
  const onKey = (data: Buffer): void => {
    for (const a of pressKeys(ui, data.toString('utf8'), last?.groups ?? [], cycle)) {
      if (a.kind === 'quit') quit.abort();
      else if (a.kind === 'delete' && last) {
        const snap = last;
        ui.status = `deleting ${deleteTarget(a.group, o, snap)}...`;
        busy = busy.then(async () => {
          ui.status = await deleteGroup(samplers, o, snap, a.group, a.filter);
          wake.abort();
        });
      }
    }
    // Redraw the last frame at once (help, prompt, selection); a new one when what it shows changed.
    draw();
    if (last && (ui.by.join() !== last.by.join() || ui.sort !== last.sort || (ui.filter || undefined) !== last.text)) {
      wake.abort();
    }
  };
  try {
    for (const t of o.targets) {
      try {
        samplers.push(await NamespaceSampler.open(t, true));
      } catch (e) {
        // A namespace listed a moment ago may be gone: skip it when looking at several.
        if (o.targets.length === 1) throw e;
        process.stderr.write(`nfct top: [${t.label}] left out: ${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
    if (screen) {
      out.write('\x1b[?1049h\x1b[?25l');
      if (stdin.isTTY) {
        stdin.setRawMode(true);
        stdin.on('data', onKey);
        stdin.resume();
      }
    }
    const options = () => ({ by: ui.by, sort: ui.sort, filter: o.filter, interval: ui.interval,
      ...(ui.filter ? { text: ui.filter } : {}) });
    // --once reads the table once: the header's rates need two samples of the counters one
    // interval apart (cheap), and the table is read during that interval. A group's change
    // would need a second read of the table, so it stays unknown, as in a first frame.
    const figuresAfter = o.once
      ? Promise.allSettled(samplers.map((s) => s.figures(0))).then(() => sleep(o.interval * 1000, quit.signal))
      : undefined;
    for (;;) {
      rows = screen ? (out.rows ?? 24) : 0;
      const top = o.top ?? (screen ? Math.max(1, rows - 7 - Math.min(5, samplers.length)) : 20);
      const snap = await snapshot(samplers, { ...options(), ...(figuresAfter ? { figuresAfter } : {}) }, top);
      history.apply(snap);
      last = snap;
      ui.selected = Math.min(ui.selected, Math.max(0, snap.groups.length - 1));
      for (let i = samplers.length - 1; i >= 0; i--) if (samplers[i]!.failed) void samplers.splice(i, 1)[0]!.close();
      if (closed) break;
      if (o.json) out.write(`${topLine(snap, filterText)}\n`);
      else if (screen) {
        draw = () => {
          if (closed) return;
          const prompt = ui.mode === 'filter'
            ? `/${ui.draft}_`
            : ui.mode === 'confirm' && ui.pending
            ? `delete the ${entries(ui.pending.group.count)} of ${deleteTarget(ui.pending.group, o, snap)}? y/N`
            : undefined;
          const lines = renderFrame(snap, { colour: true, columns: out.columns, rows, help: true, title: o.title,
            screen: { selected: ui.selected, help: ui.mode === 'help', prompt, status: ui.status || undefined,
              keys: KEY_HELP } });
          out.write(`\x1b[H\x1b[2J${lines.join('\n')}`);
        };
        draw();
      } else out.write(`${renderFrame(snap, { colour: false, title: o.title }).join('\n')}\n\n`);
      if (o.once || quit.signal.aborted) break;
      wake = new AbortController();
      await sleep(ui.interval * 1000, AbortSignal.any([quit.signal, wake.signal]));
      if (quit.signal.aborted) break;
    }
    await busy;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    if (screen) {
      if (stdin.isTTY) {
        stdin.off('data', onKey);
        stdin.setRawMode(false);
        stdin.pause();
      }
      if (!closed) out.write('\x1b[?25h\x1b[?1049l');
    }
    await Promise.all(samplers.map((s) => s.close()));
    // Errors of writes still queued when the reader left come later: still not unhandled.
    if (!closed) out.off('error', onError);
  }
}

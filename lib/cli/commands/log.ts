// `nfct log --group N`: NFLOG packets as LOG lines (or NDJSON), written a batch at a time,
// with kernel sequence numbers on so that losses are counted exactly; on exit it says how many
// packets it logged and how many were lost.
import { jsonSafe } from '../../conntrack/flow.js';
import { Nflog } from '../../nflog/handle.js';
import { formatLogLine } from '../../nflog/logline-format.js';
import type { NetnsOption } from '../../core/netns.js';
import type { Context } from '../context.js';
import { LOG_HELP } from '../help.js';
import { CliExit } from '../messages.js';

function count(text: string | undefined, flag: string): number {
  if (text === undefined || !/^\d+$/.test(text)) throw new CliExit(2, `Bad parameter \`${flag} ${text ?? ''}'`.trimEnd(), true);
  return Number(text);
}

export async function log(argv: readonly string[], ctx: Context): Promise<number> {
  let group: number | undefined;
  let prefixOnly = false;
  let json = false;
  let ns: NetnsOption | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--group' || a === '-g') group = count(argv[++i], a);
    else if (a === '--prefix-only') prefixOnly = true;
    else if (a === '--json') json = true;
    else if (a === '--netns') ns = argv[++i];
    else if (a === '--pid') ns = { pid: count(argv[++i], '--pid') };
    else if (a === '--help' || a === '-h') {
      ctx.out.raw(LOG_HELP);
      await ctx.out.drain();
      return 0;
    } else throw new CliExit(2, `unknown option \`${a}'`, true);
  }
  if (group === undefined) throw new CliExit(2, 'nfct log: --group is required', true);
  const nf = await Nflog.open({ netns: ns });
  let n = 0;
  let lost = 0;
  let overruns = 0;
  let unknownLoss = false;
  const { out } = ctx;
  try {
    for await (const item of nf.subscribe({ group, sequence: true, signal: ctx.stop })) {
      if (item.type === 'gap') {
        lost += item.missing;
        continue;
      }
      if (item.type === 'overrun') {
        overruns = item.overruns;
        if (item.lost !== undefined) lost += item.lost;
        else unknownLoss = true;
        continue;
      }
      n++;
      if (json) out.line(JSON.stringify(jsonSafe(item)));
      else {
        const time = new Date(Number((item.timestamp ?? BigInt(Date.now()) * 1_000_000n) / 1_000_000n)).toISOString();
        out.line(prefixOnly ? `${time} ${item.prefix ?? ''}` : `${time} ${formatLogLine(item)}`);
      }
      out.schedule();
      if ((n & 4095) === 0) await out.ready();
    }
    await out.drain();
  } finally {
    nf.close();
    // With sequence numbers the kernel's losses are counted exactly; an overrun after the last
    // packet cannot be (nothing came after it to compare with).
    const loss = lost > 0 || overruns > 0 ? `; ${lost}${unknownLoss ? '+' : ''} lost (${overruns} overruns)` : '; none lost';
    ctx.err(`nfct: ${n} packets logged${loss}.`);
  }
  return 0;
}

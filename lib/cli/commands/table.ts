// -F, -C, -S, -V and -h: the commands that print one thing.
import type { Conntrack } from '../../conntrack/handle.js';
import * as fmt from '../../conntrack/text.js';
import { NfctError } from '../../core/errors.js';
import type { Context } from '../context.js';
import { HELP } from '../help.js';
import { operationFailed, VERSION } from '../messages.js';
import { line, receivedNow, schemaVersions } from '../ndjson.js';
import type { CtRequest } from '../parse.js';
import { printCount } from './count.js';

export async function flush(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  let failure: NfctError | undefined;
  try {
    // -F expect takes no -f (refused as conntrack refuses it): the whole expectation table.
    if (r.table === 'expect') await ct.expectations.flush();
    else await ct.flush(r.family ? { family: r.family === 4 ? 'ipv4' : 'ipv6' } : {});
  } catch (e) {
    if (!(e instanceof NfctError)) throw e;
    failure = e;
  }
  ctx.say(r.table === 'expect' ? 'expectation table has been emptied.' : 'connection tracking table has been emptied.');
  if (failure) operationFailed(failure.errno, 'flush');
  return 0;
}

export async function count(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  let n = 0;
  if (r.command === 'exp-count') {
    // The IPv4 expectations, as conntrack counts them: its dump asks for AF_INET, and -C expect
    // takes no -f.
    for await (const batch of ct.expectations.list({ family: 'ipv4' }).batches()) n += batch.length;
  } else n = await ct.count();
  return printCount(n, r, ctx);
}

export async function stats(ct: Conntrack, r: CtRequest, ctx: Context): Promise<number> {
  if (r.command === 'exp-stats') {
    const rows = await ct.expectations.stats();
    if (r.json) {
      for (const row of rows) ctx.out.line(line('stats', receivedNow(), 'received', { table: 'expect', ...row }));
    } else ctx.out.raw(fmt.formatExpectationCpuStats(rows));
    await ctx.out.drain();
    return 0;
  }
  const rows = await ct.stats();
  if (r.json) {
    for (const row of rows) ctx.out.line(line('stats', receivedNow(), 'received', { table: 'conntrack', ...row }));
  } else ctx.out.raw(fmt.formatCpuStats(rows));
  await ctx.out.drain();
  return 0;
}

export async function version(r: CtRequest, ctx: Context): Promise<number> {
  ctx.out.line(
    r.json
      ? line('version', receivedNow(), 'received', { program: 'nfct', version: VERSION,
        compatible: `conntrack-tools ${fmt.CONNTRACK_VERSION}`, schemas: schemaVersions() })
      : `nfct v${VERSION} (conntrack-tools compatible)`,
  );
  await ctx.out.drain();
  return 0;
}

export async function help(ctx: Context): Promise<number> {
  ctx.out.raw(HELP);
  await ctx.out.drain();
  return 0;
}

// Bulk create through @x/nfct: builds FlowInput objects, then hands them all to one
// createMany(), as a user would.
//
//   node bench/workers/create-many.mjs NSNAME FILE.json|N [OPTIONS_JSON]
//
// FILE.json: a JSON array of FlowInput objects. N: the entries `ct_fill N --proto mix` makes
// (bench/lib/harness.mjs mixFlows). OPTIONS_JSON: createMany() options, e.g. '{"batchSize":5000}'.
//
// Prints one JSON line:
//   {"flows":N,"created":C,"existed":E,"failed":F,"count":T,"firstError":"...","seconds":S,
//    "buildSeconds":B,"rssKb":K}
// seconds covers the createMany() call only; buildSeconds reading the file and building the
// objects (or generating them), outside the timed part; count is ct.count() afterwards (not
// timed); rssKb is the peak RSS (VmHWM).
import { readFileSync } from 'node:fs';

import { Conntrack } from '../../dist/index.mjs';
import { mixFlows } from '../lib/harness.mjs';
import { positionalArgs, printResult, statusKb } from '../lib/worker.mjs';

const [ns, source, optionsJson] = positionalArgs('node bench/workers/create-many.mjs NSNAME FILE.json|N [OPTIONS_JSON]',
  2);
const options = optionsJson ? JSON.parse(optionsJson) : {};

const tBuild = process.hrtime.bigint();
const flows = /^[0-9]+$/.test(source) ? mixFlows(Number(source)) : JSON.parse(readFileSync(source, 'utf8'));
const buildSeconds = Number(process.hrtime.bigint() - tBuild) / 1e9;

const ct = await Conntrack.open({ netns: ns });
const t0 = process.hrtime.bigint();
const result = await ct.createMany(flows, options);
const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
const count = await ct.count(); // after the timed part: a cross-check for the caller
ct.close();

printResult({
  flows: flows.length,
  created: result.created,
  existed: result.existed,
  failed: result.failed.length,
  count,
  firstError: result.failed[0] ? String(result.failed[0].error.message) : undefined,
  seconds,
  buildSeconds,
  rssKb: statusKb('VmHWM'),
});

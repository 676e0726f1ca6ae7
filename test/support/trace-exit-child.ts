// Run by test/trace/state.test.ts with vite-node: opens a Trace in a namespace with the nf_log
// backend bound, starts a stream with a temporary trace rule, and once the rule is in place
// prints "installed" and ends with process.exit(3), leaving the handle open.
//   vite-node trace-exit-child.ts NS
import { Trace } from '../../lib/index.js';

const [ns] = process.argv.slice(2) as [string];

async function main(): Promise<void> {
  const trace = await Trace.open({ netns: ns, bindLogger: true });
  const stream = trace.packets({ match: { protocol: 'udp', dstPort: 9413 } });
  void stream.next();
  await stream.ready;
  process.stdout.write('installed\n');
  process.exit(3);
}

void main();

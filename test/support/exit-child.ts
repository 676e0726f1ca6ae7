// Run by test/core/lifecycle.test.ts with vite-node: opens a Conntrack, an Nflog and a Trace handle
// in a namespace, keeps an event stream, an NFLOG subscription, a TRACE stream and a slow dump
// running, and then, in the middle of the dump, ends according to MODE:
//   exit   process.exit(7) with everything still open and running
//   close  closes the three handles and lets the event loop end by itself
//   throw  throws inside the dump's `for await` and leaves the rejection unhandled
// Prints one line per step ("running", then "exiting" / "closed" / "throwing", then "ended"
// when every loop has ended), each followed by " at=<Date.now()>", so the test can tell where
// it stopped and how long it took to exit after that.
//   vite-node exit-child.ts NS MODE
import { Conntrack, Nflog, Trace } from '../../lib/index.js';

const [ns, mode] = process.argv.slice(2) as [string, 'exit' | 'close' | 'throw'];
const say = (line: string): void => void process.stdout.write(`${line} at=${Date.now()}\n`);

async function drain(it: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of it) {
    // whatever arrives
  }
}

async function main(): Promise<void> {
  const ct = await Conntrack.open({ netns: ns });
  const nf = await Nflog.open({ netns: ns });
  const trace = await Trace.open({ netns: ns });
  const loops = [drain(ct.events()), drain(nf.subscribe({ group: 31 })), drain(trace.events({ resolveRules: false }))];
  let n = 0;
  for await (const _ of ct.list({ batchSize: 100 })) {
    n++;
    if (n === 100) say('running');
    if (n === 300) {
      if (mode === 'exit') {
        say('exiting');
        process.exit(7);
      } else if (mode === 'close') {
        await ct.close();
        await nf.close();
        await trace.close();
        say('closed');
      } else {
        say('throwing');
        throw new Error('thrown inside for await');
      }
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(loops);
  say(`ended after ${n} entries`);
}

void main();

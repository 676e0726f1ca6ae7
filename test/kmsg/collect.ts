// What the kernel log tests read from a stream: its items until a condition holds, while an
// action (writing to a followed file, sending packets) runs.
import type { KernelLogItem, KernelLogStream } from '../../lib/index.js';

/**
 * Items of `stream` until `done` says stop, reading while `act` runs; `onItem` sees each as it
 * comes. A timeout (`ms`) only bounds a failure: the stream is closed then and the call fails,
 * even if what closing flushed (a trace group still open) would satisfy `done`.
 */
export async function collect(stream: KernelLogStream, done: (items: KernelLogItem[]) => boolean, act: () => unknown,
  ms: number, onItem?: (item: KernelLogItem) => void): Promise<KernelLogItem[]>
{
  const items: KernelLogItem[] = [];
  let bounded = false;
  const timer = setTimeout(() => {
    bounded = true;
    void stream.close();
  }, ms);
  const reading = (async () => {
    for await (const item of stream) {
      items.push(item);
      onItem?.(item);
      if (done(items)) break;
    }
  })();
  await act();
  await reading;
  clearTimeout(timer);
  await stream.close();
  if (bounded) throw new Error(`collect: not done after ${ms} ms (${items.length} items read)`);
  return items;
}

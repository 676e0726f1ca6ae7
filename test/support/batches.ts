// The counters a native reader hands over with each batch (the BatchCounter layout of
// lib/core/layout.ts), for tests that feed a stream batches of their own.
import { BatchCounter } from '../../lib/core/layout.js';

/** A batch's counters: `count` records (all received), overruns, whether it is the last one. */
export function batchCounters(count: number, overruns: number, final: boolean, malformed = 0,
  rcvbuf = 0): Float64Array
{
  const c = new Float64Array(BatchCounter.BATCH_COUNTERS);
  c[BatchCounter.BATCH_COUNT] = count;
  c[BatchCounter.BATCH_RECEIVED] = count;
  c[BatchCounter.BATCH_OVERRUNS] = overruns;
  c[BatchCounter.BATCH_FINAL] = final ? 1 : 0;
  c[BatchCounter.BATCH_MALFORMED] = malformed;
  c[BatchCounter.BATCH_RCVBUF] = rcvbuf;
  return c;
}

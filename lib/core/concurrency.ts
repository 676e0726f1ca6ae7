// Running one operation over many namespaces at once, with a bound on how many run together;
// and waiting for one thing at most until a deadline.
import { integer } from './validate.js';

/**
 * @internal What `pending` resolves, or undefined if it has not settled by `deadline` (a
 * Date.now() time; not finite: no deadline). A rejection of `pending` is thrown.
 */
export async function untilDeadline<T>(pending: Promise<T>, deadline: number): Promise<T | undefined> {
  if (!Number.isFinite(deadline)) return pending;
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<undefined>((
    ok,
  ) => (timer = setTimeout(() => ok(undefined), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([pending, expiry]);
  } finally {
    clearTimeout(timer);
  }
}

/** Operations in flight at once by default: enough to overlap the kernel's work, few enough for a busy node. */
export const DEFAULT_CONCURRENCY = 8;

/** The outcome of one item: its value, or the error it failed with. */
export type Settled<T, R> =
  | {
    /** The item, as given. */
    item: T;
    /** It succeeded. */
    ok: true;
    /** What `fn` resolved for it. */
    value: R;
  }
  | {
    /** The item, as given. */
    item: T;
    /** It failed. */
    ok: false;
    /** What `fn` threw or rejected with for it. */
    error: unknown;
  };

/**
 * Runs `fn` on every item with at most `concurrency` calls in flight, and resolves the outcome
 * of each, in the order of `items`. A failure of one item does not stop the others.
 */
export async function mapSettled<T, R>(
  items: Iterable<T>,
  fn: (item: T, index: number) => Promise<R>,
  concurrency: number = DEFAULT_CONCURRENCY,
): Promise<Settled<T, R>[]> {
  const limit = integer(concurrency, 'concurrency', 1, 1024);
  const list = [...items];
  const out = new Array<Settled<T, R>>(list.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < list.length) {
      const i = next++;
      const item = list[i]!;
      try {
        out[i] = { item, ok: true, value: await fn(item, i) };
      } catch (error) {
        out[i] = { item, ok: false, error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, list.length) }, worker));
  return out;
}

/**
 * Operations run one after the other, each once the one before has settled (a failure does not
 * stop the next): the changes of one piece of shared state, made in order.
 */
export class Sequence {
  #tail: Promise<unknown> = Promise.resolve();

  /** Runs `fn` after every operation queued before it; resolves or rejects as it does. */
  run<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.#tail.then(fn);
    this.#tail = p.catch(() => undefined);
    return p;
  }
}

// A conntrack table counted on the calling thread: the same native open and count requests as
// Conntrack.open() and count(), made where nothing else waits for the thread (nfct -C). A
// short start-up is then spared two trips to libuv's pool and back, and the start of its
// threads. Not part of the package's API (Conntrack.count() is), and it loads none of the
// handle's modules.
import { callSite, withCallSite } from '../core/errors.js';
import { addon, type NativeConntrack } from '../core/native.js';
import { type NetnsOption, netnsPath } from '../core/netns.js';

/** @internal A control socket on one namespace's table that counts its entries on the calling thread. */
export class TableCounter {
  #native: NativeConntrack | undefined;

  private constructor(native: NativeConntrack) {
    this.#native = native;
  }

  /**
   * Opens the socket in `netns` (the caller's own without it), as Conntrack.open() does; throws
   * its TypeError for a bad option, its NfctError for a namespace or socket that cannot be opened.
   */
  static open(netns?: NetnsOption): TableCounter {
    const path = netnsPath(netns);
    try {
      return new TableCounter(addon.openConntrackNow(path));
    } catch (e) {
      throw withCallSite(e, callSite(TableCounter.open),
        path ? `opening conntrack in network namespace ${path}` : 'opening conntrack');
    }
  }

  /** How many entries the table holds (Conntrack.count()); throws NfctError. */
  count(): number {
    if (!this.#native) throw new Error('TableCounter: count() after close()');
    try {
      return this.#native.countNow()[0];
    } catch (e) {
      throw withCallSite(e, callSite(this.count), 'conntrack count');
    }
  }

  close(): void {
    this.#native?.close();
    this.#native = undefined;
  }
}

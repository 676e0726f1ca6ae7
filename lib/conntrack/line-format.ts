// The `-o` flags of the -L lines native code formats (Conntrack.listText(), deleteEach()'s
// onDeletedText), and the step that turns a batch of flow records into those lines.
import type { Buffer } from 'node:buffer';

import { addon, type NativeLineFormat } from '../core/native.js';
import { boolean, describeValue } from '../core/validate.js';
import { Services } from '../k8s/services.js';

/**
 * The `-o` flags of the lines native code formats (listText(), deleteEach()'s
 * onDeletedText): the text is what formatFlow() makes of each entry with these options.
 */
export interface LineFormat {
  /** `-o extended`: the layer-3 name and number first (`ipv4     2 `). */
  extended?: boolean;
  /** `-o id`: `id=` of the entry at the end. */
  id?: boolean;
  /**
   * ` service=NAME endpoint=IP:PORT` at the end of each entry whose original destination is a
   * Service port of these (readServices()), ` stale` after it when the endpoint is no longer one
   * of the Service's (the text of lib/k8s/stale.ts flowServiceText()).
   */
  services?: Services;
}

export const LINE_FORMAT_KEYS = ['extended', 'id', 'services'] as const;

/** Checks the -o flags of `o` (`where` names the option) and gives them as native code takes them. */
export function lineFormat(o: LineFormat, where: string): NativeLineFormat {
  const f: NativeLineFormat = { extended: boolean(o.extended, `${where}.extended`) ?? false,
    id: boolean(o.id, `${where}.id`) ?? false };
  if (o.services !== undefined) {
    if (!(o.services instanceof Services)) {
      throw new TypeError(
        `${where}.services must be a Services object (readServices()), got ${describeValue(o.services)}`,
      );
    }
    f.services = o.services.nativeTable();
  }
  return f;
}

/** A batch of records as one chunk of -L lines (formatted by native code, on this thread). */
export function textChunk(format: NativeLineFormat): (buffer: ArrayBuffer, strings: string, count: number) => Buffer[] {
  return (buffer, strings, count) => (count > 0 ? [addon.formatFlows(buffer, strings, count, format)] : []);
}

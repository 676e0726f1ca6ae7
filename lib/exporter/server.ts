// Serving an exporter over HTTP on its own, as `nfct exporter` does.
import { createServer, type Server } from 'node:http';

import { describeValue, integer } from '../core/validate.js';
import type { Exporter } from './exporter.js';

/** The port `nfct exporter` listens on unless told otherwise. */
export const DEFAULT_EXPORTER_PORT = 9477;

/** `host:port`, `:port`, `[v6]:port` or a bare port, as --listen takes it. */
export function parseListen(text: string, option = '--listen'): { host: string | undefined; port: number } {
  const m = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?(\d+)$/.exec(text);
  if (!m) throw new TypeError(`${option} must be HOST:PORT, :PORT or PORT, got ${describeValue(text)}`);
  const host = m[1] ?? (m[2] || undefined);
  const port = Number(m[3]);
  if (port > 65535) throw new RangeError(`${option} port must be between 0 and 65535, got ${port}`);
  return { host, port };
}

/** Where serveExporter() listens. */
export interface ServeOptions {
  /** The address to listen on (default: every address). */
  host?: string;
  /** The port (default 9477; 0: any free one). */
  port?: number;
}

/** Listens with the exporter's handler; resolves the server once it is listening. */
export async function serveExporter(exporter: Exporter, listen: ServeOptions = {}): Promise<Server> {
  const port = integer(listen.port ?? DEFAULT_EXPORTER_PORT, 'serveExporter() listen.port', 0, 65535);
  const server = createServer(exporter.handler);
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, listen.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

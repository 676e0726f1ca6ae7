// Serving an exporter over HTTP on its own, as `nfct exporter` does: loopback unless told
// otherwise, bounded in connections, header size and the time a request may take to arrive,
// and with a web configuration file (web-config.ts) TLS, basic authentication, response
// headers and a rate limit. Paths: /metrics (the scrape), /healthz (alive and the addon
// loaded, never a scrape; no authentication, for probes) and / (a page linking /metrics).
import type { IncomingMessage, Server, ServerOptions, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

import { builtin } from '../core/builtins.js';
import { addon } from '../core/native.js';
import { assertKnownKeys, assertObject, describeValue, integer, optionalInteger } from '../core/validate.js';
import type { Exporter } from './exporter.js';
import { loadWebConfig, type WebConfig } from './web-config.js';

/** The port `nfct exporter` listens on unless told otherwise. */
export const DEFAULT_EXPORTER_PORT = 9477;
/** The address it listens on unless told otherwise: loopback. */
export const DEFAULT_EXPORTER_HOST = '127.0.0.1';

/**
 * `host:port`, `:port` (every address, as Prometheus exporters read it), `[v6]:port` or a bare
 * port (loopback), as --listen takes it. host '' stands for every address.
 */
export function parseListen(text: string, option = '--listen'): { host: string | undefined; port: number } {
  const m = /^(?:(?:\[([^\]]+)\]|([^:[\]]*)):)?(\d+)$/.exec(text);
  if (!m) throw new TypeError(`${option} must be HOST:PORT, :PORT or PORT, got ${describeValue(text)}`);
  const host = m[1] ?? m[2];
  const port = Number(m[3]);
  if (port > 65535) throw new RangeError(`${option} port must be between 0 and 65535, got ${port}`);
  return { host, port };
}

/** Options of serveExporter(): where the metrics endpoint listens, and who may read it. */
export interface ServeOptions {
  /** Address to listen on (default 127.0.0.1); '' for every address. */
  host?: string;
  /** Port (default 9477; 0 for any free one). */
  port?: number;
  /** A web configuration file in the exporter toolkit's format: TLS, basic auth, headers, rate limit. */
  webConfig?: string;
  /** Connections open at once; more are closed as they come (default 64). */
  maxConnections?: number;
  /** How long a client may take to send a request's headers, in ms (default 10000; also the TLS handshake). */
  headersTimeout?: number;
  /** How long a client may take to send a whole request, in ms (default 30000). */
  requestTimeout?: number;
  /** The most bytes of request headers (default 8192; more is answered 431). */
  maxHeaderSize?: number;
}

/** A bcrypt hash of nothing anyone sends: an unknown user costs as much time as a known one. */
const DECOY = '$2b$10$iuf2WN/PqsJkyiKKwl..JuKbtDcam7YaX00GkaNaPL1Fv57q9xEsS';
/** bcrypt comparisons running at once, and waiting; past that a request is answered 503. */
const BCRYPT_AT_ONCE = 2;
const BCRYPT_WAITING = 16;
/** Distinct credentials whose verdict is remembered. */
const AUTH_CACHE = 256;

/** Listens with the exporter's handler; resolves the server once it is listening. */
export async function serveExporter(exporter: Exporter, options: ServeOptions = {}): Promise<Server> {
  const raw: unknown = options;
  assertObject(raw, 'serveExporter() options');
  assertKnownKeys(raw, ['host', 'port', 'webConfig', 'maxConnections', 'headersTimeout', 'requestTimeout',
    'maxHeaderSize'], 'serveExporter() options');
  const port = integer(options.port ?? DEFAULT_EXPORTER_PORT, 'serveExporter() options.port', 0, 65535);
  if (options.host !== undefined && typeof options.host !== 'string') {
    throw new TypeError(`serveExporter() options.host must be a string, got ${describeValue(options.host)}`);
  }
  const host = options.host ?? DEFAULT_EXPORTER_HOST;
  const maxConnections = optionalInteger(options.maxConnections, 'serveExporter() options.maxConnections', 1, 65536) ??
    64;
  const headersTimeout =
    optionalInteger(options.headersTimeout, 'serveExporter() options.headersTimeout', 100, 600_000) ?? 10_000;
  const requestTimeout =
    optionalInteger(options.requestTimeout, 'serveExporter() options.requestTimeout', headersTimeout, 3_600_000) ??
      Math.max(30_000, headersTimeout);
  const maxHeaderSize =
    optionalInteger(options.maxHeaderSize, 'serveExporter() options.maxHeaderSize', 1024, 1 << 20) ?? 8192;
  if (options.webConfig !== undefined && typeof options.webConfig !== 'string') {
    throw new TypeError(
      `serveExporter() options.webConfig must be a file name, got ${describeValue(options.webConfig)}`,
    );
  }

  let config: WebConfig | undefined = options.webConfig === undefined
    ? undefined
    : await loadWebConfig(options.webConfig);
  const watch = config ? await ConfigWatch.start(config) : undefined;
  const limits: ServerOptions = {
    maxHeaderSize,
    headersTimeout,
    requestTimeout,
    // Timeouts are checked this often: a connection that sends nothing is closed within a
    // second of its timeout, not the default 30 s later.
    connectionsCheckingInterval: Math.min(1000, headersTimeout),
    keepAliveTimeout: 65_000,
  };
  const tls = config?.tls;
  const handler = (req: IncomingMessage, res: ServerResponse): void => void handle(req, res);
  const server: Server = tls
    ? (builtin('node:https').createServer({
      ...limits,
      ...tls.context,
      handshakeTimeout: headersTimeout,
      requestCert: tls.clientAuth !== 'NoClientCert',
      rejectUnauthorized: tls.clientAuth === 'RequireAndVerifyClientCert',
    }, handler))
    : builtin('node:http').createServer(limits, handler);
  server.maxConnections = maxConnections;
  // A connection that sends nothing at all starts no request, so Node's header timeout never
  // runs for it: it gets the same time to start one, then is closed.
  const idle = (socket: Socket): void => void socket.setTimeout(headersTimeout, () => socket.destroy());
  if (tls) {
    server.on('secureConnection', (socket: TLSSocket) => {
      if (clientCertRefused(socket, config!)) socket.destroy();
      else idle(socket);
    });
  } else server.on('connection', idle);

  const bucket = { tokens: 0, at: 0 };
  const verdicts = new Map<string, boolean>();
  let bcryptRunning = 0;
  const bcryptQueue: (() => void)[] = [];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    // A request came: from now on Node's own timeouts (request, keep-alive) apply.
    req.socket.setTimeout(0);
    try {
      if (watch) {
        config = await watch.current((c) => {
          verdicts.clear();
          if (c.tls) (server as unknown as { setSecureContext(o: object): void }).setSecureContext(c.tls.context);
        });
      }
      const c = config;
      for (const [name, value] of Object.entries(c?.headers ?? {})) res.setHeader(name, value);
      if (c?.rateLimit && !take(bucket, c.rateLimit)) {
        return void res.writeHead(429, { 'content-type': 'text/plain' }).end('too many requests\n');
      }
      const path = (req.url ?? '/').split('?')[0];
      if (req.method !== 'GET' && req.method !== 'HEAD') return void res.writeHead(405, { allow: 'GET, HEAD' }).end();
      if (path === '/healthz') {
        healthz(req, res);
        return;
      }
      if (c && c.users.size > 0) {
        const verdict = await authorized(req.headers.authorization, c.users);
        if (verdict === 'busy') {
          return void res.writeHead(503, { 'retry-after': '1', 'content-type': 'text/plain' }).end(
            'busy checking credentials\n',
          );
        }
        if (!verdict) {
          return void res.writeHead(401, { 'www-authenticate': 'Basic realm="nfct exporter", charset="UTF-8"',
            'content-type': 'text/plain' }).end('unauthorized\n');
        }
      }
      if (path === '/') {
        return void res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(
          req.method === 'HEAD' ? undefined : INDEX,
        );
      }
      if (path === '/metrics') {
        exporter.handler(req, res);
        return;
      }
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the metrics are at /metrics\n');
    } catch (e) {
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`${e instanceof Error ? e.message : String(e)}\n`);
      }
    }
  }

  /** Whether the Authorization header carries a user and password of the configuration ('busy': too many checks waiting). */
  async function authorized(header: string | undefined, users: Map<string, string>): Promise<boolean | 'busy'> {
    const m = /^Basic\s+([A-Za-z0-9+/=]+)\s*$/i.exec(header ?? '');
    if (!m) return false;
    const text = Buffer.from(m[1]!, 'base64').toString('utf8');
    const colon = text.indexOf(':');
    if (colon < 0) return false;
    const user = text.slice(0, colon);
    const key = `${user}\0${
      builtin('node:crypto').createHash('sha256').update(text.slice(colon + 1)).digest('base64')
    }`;
    const known = verdicts.get(key);
    if (known !== undefined) return known;
    if (bcryptRunning >= BCRYPT_AT_ONCE) {
      if (bcryptQueue.length >= BCRYPT_WAITING) return 'busy';
      await new Promise<void>((r) => bcryptQueue.push(r));
    }
    bcryptRunning++;
    let ok: boolean;
    try {
      const { compare } = await import('bcryptjs');
      const hash = users.get(user);
      ok = (await compare(text.slice(colon + 1), hash ?? DECOY)) && hash !== undefined;
    } finally {
      bcryptRunning--;
      bcryptQueue.shift()?.();
    }
    if (verdicts.size >= AUTH_CACHE) verdicts.clear();
    verdicts.set(key, ok);
    return ok;
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host === '' ? undefined : host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server;
}

/** A token bucket: `burst` requests at once, one more every `intervalMs`. */
function take(b: { tokens: number; at: number }, limit: { intervalMs: number; burst: number }): boolean {
  const now = performance.now();
  b.tokens = b.at === 0 ? limit.burst : Math.min(limit.burst, b.tokens + (now - b.at) / limit.intervalMs);
  b.at = now;
  if (b.tokens < 1) return false;
  b.tokens -= 1;
  return true;
}

/** Whether a TLS client's certificate falls short of client_auth_type and client_allowed_sans. */
function clientCertRefused(socket: TLSSocket, config: WebConfig): boolean {
  const tls = config.tls!;
  const cert = socket.getPeerCertificate();
  const has = cert !== null && Object.keys(cert).length > 0;
  if (!has) return tls.clientAuth === 'RequireAnyClientCert' || tls.clientAuth === 'RequireAndVerifyClientCert';
  if (tls.clientAuth === 'VerifyClientCertIfGiven' && !socket.authorized) return true;
  if (tls.allowedSans.length === 0) return false;
  const names = (cert.subjectaltname ?? '').split(', ').map((n) => n.replace(/^[A-Za-z ]+:/, ''));
  return !names.some((n) => tls.allowedSans.includes(n));
}

/** /healthz: the process answers and its native addon is loaded; nothing is read from the kernel. */
function healthz(req: IncomingMessage, res: ServerResponse): void {
  let problem: string | undefined;
  try {
    void addon.layouts;
  } catch (e) {
    problem = e instanceof Error ? e.message : String(e);
  }
  res.writeHead(problem ? 503 : 200, { 'content-type': 'text/plain', 'cache-control': 'no-store' });
  res.end(req.method === 'HEAD' ? undefined : problem ? `native addon not loaded: ${problem}\n` : 'ok\n');
}

const INDEX = [
  '<!DOCTYPE html>',
  '<html><head><meta charset="utf-8"><title>nfct exporter</title></head><body>',
  '<h1>nfct exporter</h1>',
  '<p>Conntrack and NFLOG figures of every network namespace of this node.</p>',
  '<ul><li><a href="metrics">/metrics</a>: the metrics, in the Prometheus text format</li>',
  '<li><a href="healthz">/healthz</a>: whether the exporter is up</li></ul>',
  '</body></html>',
  '',
].join('\n');

/**
 * The web configuration, read again when its file or a file it names changed (looked at no more
 * than once a second, when a request comes): certificates renewed on disk are served from the
 * next connection on. A file that no longer reads keeps the configuration in force, said once.
 */
class ConfigWatch {
  private lastLook = 0;
  private signature: string | undefined;
  private looking: Promise<WebConfig> | undefined;
  private complained = false;

  private constructor(private config: WebConfig) {}

  static async start(config: WebConfig): Promise<ConfigWatch> {
    const w = new ConfigWatch(config);
    w.signature = await w.sign(config);
    return w;
  }

  private files(c: WebConfig): string[] {
    return [c.path, ...c.files];
  }

  async current(onChange: (c: WebConfig) => void): Promise<WebConfig> {
    const now = performance.now();
    if (now - this.lastLook < 1000) return this.config;
    this.lastLook = now;
    this.looking ??= this.look(onChange).finally(() => (this.looking = undefined));
    return this.looking;
  }

  private async sign(c: WebConfig): Promise<string> {
    const stats = await Promise.all(
      this.files(c).map((f) =>
        builtin('node:fs/promises').stat(f).then((s) => `${s.ino}:${s.size}:${s.mtimeMs}`, () => 'gone')
      ),
    );
    return stats.join('|');
  }

  private async look(onChange: (c: WebConfig) => void): Promise<WebConfig> {
    const now = await this.sign(this.config);
    if (now === this.signature) return this.config;
    try {
      const next = await loadWebConfig(this.config.path);
      if (Boolean(next.tls) !== Boolean(this.config.tls) || next.tls?.clientAuth !== this.config.tls?.clientAuth) {
        throw new Error('turning TLS on or off, or changing client_auth_type, needs a restart');
      }
      this.config = next;
      this.signature = await this.sign(next);
      this.complained = false;
      onChange(next);
    } catch (e) {
      this.signature = now;
      if (!this.complained) {
        process.stderr.write(
          `nfct exporter: --web-config ${this.config.path} not reloaded, the one read before stays in force: ${
            e instanceof Error ? e.message : String(e)
          }\n`,
        );
      }
      this.complained = true;
    }
    return this.config;
  }
}

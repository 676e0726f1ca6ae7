// The exporter's HTTP layer, as `nfct exporter` serves it: loopback unless told, /healthz and /,
// connections bounded and half-open ones closed at the header timeout, oversized headers
// refused; --web-config in the exporter toolkit's format: TLS (openssl made the certificates),
// basic auth with bcrypt hashes (htpasswd made them), response headers, client certificates,
// a rate limit, the file read again when it changes, and every fault named with its key.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { type AddressInfo, connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { afterAll, beforeAll, describe, expect, test } from 'vitest';

import { parseListen } from '../../lib/exporter/server.js';
import { createExporter, serveExporter } from '../../lib/index.js';
import { freePort, killAll } from '../helpers/children.js';
import { CLI } from '../helpers/nfct.js';

let dir: string;
const children: ChildProcess[] = [];

/** The start of a --web-config serving TLS with the server certificate made in beforeAll. */
const TLS = ['tls_server_config:', '  cert_file: server.crt', '  key_file: server.key'];

/** A user and its password, the hash made by htpasswd (as the toolkit's docs say to). */
const USER = 'prom';
const PASSWORD = 's3cret-pass';
let hash: string;

function openssl(...args: string[]): void {
  execFileSync('openssl', args, { cwd: dir, stdio: 'ignore' });
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfct-server-'));
  hash = execFileSync('htpasswd', ['-nbBC', '6', USER, PASSWORD], { encoding: 'utf8' }).trim().split(':')[1]!;
  // A CA, a server certificate for 127.0.0.1, and a client certificate signed by the CA.
  openssl('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', 'ca.key', '-out',
    'ca.crt', '-days', '2', '-subj', '/CN=nfct test CA');
  for (const [name, san] of [['server', 'DNS:localhost,IP:127.0.0.1'], ['client', 'DNS:scraper.example']] as const) {
    openssl('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', `${name}.key`, '-out',
      `${name}.csr`, '-subj', `/CN=${name}`);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\n`);
    openssl('x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out',
      `${name}.crt`, '-days', '2', '-extfile', `${name}.ext`);
  }
});
afterAll(async () => {
  await killAll(children);
  rmSync(dir, { recursive: true, force: true });
});

/** `nfct exporter` exporting no namespace (only the HTTP layer matters here); resolves once it listens. */
async function exporter(args: string[]): Promise<{ child: ChildProcess; port: number; stderr: () => string }> {
  const port = await freePort();
  const child = spawn(process.execPath, [CLI, 'exporter', '--listen', `127.0.0.1:${port}`, '--netns-regex',
    '^nfct-none$', ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.push(child);
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  for (let i = 0; i < 500 && !err.includes('serving'); i++) {
    if (child.exitCode !== null) throw new Error(`exporter exited: ${err}`);
    await sleep(20);
  }
  return { child, port, stderr: () => err };
}

interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function get(port: number, path: string,
  o: { tls?: boolean; auth?: string; headers?: Record<string, string>; cert?: boolean; method?: string } = {}
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const opts = {
      host: '127.0.0.1',
      port,
      path,
      method: o.method ?? 'GET',
      agent: false,
      headers: { ...(o.auth ? { authorization: `Basic ${Buffer.from(o.auth).toString('base64')}` } : {}),
        ...o.headers },
      ...(o.tls
        ? { ca: readPem('ca.crt'), ...(o.cert ? { cert: readPem('client.crt'), key: readPem('client.key') } : {}) }
        : {}),
    };
    const req = (o.tls ? httpsRequest : httpRequest)(opts, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}
const readPem = (name: string): Buffer => execFileSync('cat', [join(dir, name)]);

function webConfig(name: string, text: string): string {
  const file = join(dir, name);
  writeFileSync(file, text);
  return file;
}

describe('nfct exporter over HTTP', () => {
  test('loopback unless told: the library listens on 127.0.0.1; :PORT is every address; a bare port is loopback', async () => {
    const e = await createExporter({ namespaces: () => false });
    const s = await serveExporter(e, { port: 0 });
    const every = await serveExporter(e, { host: '', port: 0 });
    try {
      expect((s.address() as AddressInfo).address).toBe('127.0.0.1');
      expect(['::', '0.0.0.0']).toContain((every.address() as AddressInfo).address);
    } finally {
      s.close();
      every.close();
      await e.close();
    }
    expect(parseListen(':9477')).toEqual({ host: '', port: 9477 });
    expect(parseListen('9477')).toEqual({ host: undefined, port: 9477 });
  });

  test('/healthz answers without a scrape, / links /metrics, other paths 404, other methods 405', async () => {
    const { port } = await exporter([]);
    const health = await get(port, '/healthz');
    expect([health.status, health.body]).toEqual([200, 'ok\n']);
    const index = await get(port, '/');
    expect(index.status).toBe(200);
    expect(index.headers['content-type']).toMatch(/^text\/html/);
    expect(index.body).toContain('<a href="metrics">');
    expect((await get(port, '/metrics')).body).toContain('# TYPE nfct_exporter_namespaces gauge');
    expect((await get(port, '/nope')).status).toBe(404);
    expect((await get(port, '/metrics', { method: 'POST' })).status).toBe(405);
  });

  test('connections: past --max-connections closed as they come; half-open ones closed at the header timeout; the exporter answers after', async () => {
    const { child, port } = await exporter(['--max-connections', '8', '--header-timeout', '1']);
    const fdsBefore = readdirSync(`/proc/${child.pid}/fd`).length;
    const sockets: Socket[] = [];
    let closed = 0;
    for (let i = 0; i < 200; i++) {
      const s = connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      s.on('close', () => closed++);
      sockets.push(s);
    }
    // The sentinel: the server has closed all but the 8 it keeps.
    while (closed < 192) await sleep(20);
    expect(readdirSync(`/proc/${child.pid}/fd`).length).toBeLessThanOrEqual(fdsBefore + 8 + 2);
    // Those 8 send nothing: closed once the header timeout has passed.
    while (closed < 200) await sleep(50);
    expect((await get(port, '/healthz')).status).toBe(200);
  });

  test('request headers past 8 KiB (Node itself allows 16 KiB): 431', async () => {
    const { port } = await exporter([]);
    expect((await get(port, '/metrics', { headers: { 'x-big': 'x'.repeat(10 << 10) } })).status).toBe(431);
  });

  test('--web-config: TLS and basic auth; /healthz needs no credentials; the configured headers on every answer', async () => {
    const file = webConfig('web-basic.yml', [
      ...TLS,
      'http_server_config:',
      '  headers:',
      '    X-Content-Type-Options: nosniff',
      'basic_auth_users:',
      `  ${USER}: '${hash}'`,
      '',
    ].join('\n'));
    const { port, stderr } = await exporter(['--web-config', file]);
    expect(stderr()).toContain(`serving https /metrics on 127.0.0.1:${port}`);
    const none = await get(port, '/metrics', { tls: true });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toMatch(/^Basic realm=/);
    expect((await get(port, '/metrics', { tls: true, auth: `${USER}:wrong` })).status).toBe(401);
    expect((await get(port, '/metrics', { tls: true, auth: `nobody:${PASSWORD}` })).status).toBe(401);
    const ok = await get(port, '/metrics', { tls: true, auth: `${USER}:${PASSWORD}` });
    expect(ok.status).toBe(200);
    expect(ok.body).toContain('nfct_exporter_namespaces');
    expect(ok.headers['x-content-type-options']).toBe('nosniff');
    const health = await get(port, '/healthz', { tls: true });
    expect([health.status, health.headers['x-content-type-options']]).toEqual([200, 'nosniff']);
    // Plain HTTP on the TLS port gets nothing.
    await expect(get(port, '/healthz')).rejects.toThrow();
  });

  test('--web-config: RequireAndVerifyClientCert with client_allowed_sans: a client without a certificate is refused, one with it served', async () => {
    const file = webConfig('web-mtls.yml', [
      ...TLS,
      '  client_ca_file: ca.crt',
      '  client_auth_type: RequireAndVerifyClientCert',
      '  client_allowed_sans: [scraper.example]',
      '',
    ].join('\n'));
    const { port } = await exporter(['--web-config', file]);
    await expect(get(port, '/healthz', { tls: true })).rejects.toThrow();
    expect((await get(port, '/healthz', { tls: true, cert: true })).status).toBe(200);
  });

  test('--web-config: a changed file is read again: the new users get in, the old ones no longer', async () => {
    const file = webConfig('web-reload.yml', `basic_auth_users:\n  ${USER}: '${hash}'\n`);
    const { port } = await exporter(['--web-config', file]);
    expect((await get(port, '/', { auth: `${USER}:${PASSWORD}` })).status).toBe(200);
    const other = execFileSync('htpasswd', ['-nbBC', '6', 'other', 'pw2'], { encoding: 'utf8' }).trim().split(':')[1]!;
    writeFileSync(file, `basic_auth_users:\n  other: '${other}'\n`);
    // The sentinel: the new user gets in (the file is looked at again at most once a second).
    let status = 0;
    for (let i = 0; i < 100 && status !== 200; i++) {
      status = (await get(port, '/', { auth: 'other:pw2' })).status;
      if (status !== 200) await sleep(100);
    }
    expect(status).toBe(200);
    expect((await get(port, '/', { auth: `${USER}:${PASSWORD}` })).status).toBe(401);
  });

  test('--web-config rate_limit: past its burst, 429', async () => {
    const file = webConfig('web-rate.yml', 'rate_limit:\n  interval: 10s\n  burst: 30\n');
    const { port } = await exporter(['--web-config', file]);
    const statuses = await Promise.all(Array.from({ length: 60 }, () => get(port, '/healthz').then((r) => r.status)));
    expect(statuses.filter((s) => s === 200)).toHaveLength(30);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30);
  });

  test.each([
    ['unknown key', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_versoin: TLS12\n',
      /tls_server_config\.min_versoin is not a setting/],
    ['bad TLS version', 'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS14\n',
      /tls_server_config\.min_version must be one of TLS10, TLS11, TLS12, TLS13, got "TLS14"/],
    ['missing key file', 'tls_server_config:\n  cert_file: server.crt\n', /tls_server_config\.key_file is required/],
    ['unreadable certificate', 'tls_server_config:\n  cert_file: nope.crt\n  key_file: server.key\n',
      /tls_server_config\.cert_file names nope\.crt, which cannot be read \(ENOENT\)/],
    ['a password, not a hash', 'basic_auth_users:\n  prom: s3cret\n', /basic_auth_users\.prom must be a bcrypt hash/],
    ['verify without a CA',
      'tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: RequireAndVerifyClientCert\n',
      /client_ca_file is required with client_auth_type RequireAndVerifyClientCert/],
    ['not YAML', 'basic_auth_users: [\n', /not YAML/],
  ])('--web-config with %s: exit 2, the key named', (name, text, message) => {
    const file = webConfig(`bad-${name.replaceAll(' ', '-')}.yml`, text);
    let r: { status: number | null; stderr: string };
    try {
      execFileSync(process.execPath, [CLI, 'exporter', '--listen', '127.0.0.1:0', '--web-config', file], {
        encoding: 'utf8',
        stdio: 'pipe',
        timeout: 20000,
      });
      r = { status: 0, stderr: '' };
    } catch (e) {
      r = e as { status: number | null; stderr: string };
    }
    expect(r.stderr).toMatch(message);
    expect(r.status).toBe(2);
  });
});

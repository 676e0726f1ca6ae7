// The web configuration file Prometheus exporters share (the exporter toolkit's format, given
// with --web-config FILE): TLS (tls_server_config), response headers (http_server_config),
// basic authentication with bcrypt hashes (basic_auth_users) and a token-bucket rate limit
// (rate_limit). Read and checked here, each fault a TypeError naming the key; files it names
// are read as every input is (lib/core/input.ts: never blocking), relative to the
// configuration file's folder when not absolute.
import { dirname, isAbsolute, resolve } from 'node:path';
import type { SecureContextOptions } from 'node:tls';

import { readSmallFile } from '../core/input.js';
import { describeValue } from '../core/validate.js';

/**
 * yaml, loaded when a configuration file is read: it is most of what `import '@x/nfct'` would
 * otherwise load (some seventy modules), and few users of the library give one.
 */
function parse(text: string): unknown {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (require('yaml') as typeof import('yaml')).parse(text);
}

/** The most bytes a configuration file, a certificate or a key may have. */
const MAX_FILE = 1 << 20;

/** How the server asks clients for certificates (client_auth_type). */
export type ClientAuth = 'NoClientCert' | 'RequestClientCert' | 'RequireAnyClientCert' | 'VerifyClientCertIfGiven'
  | 'RequireAndVerifyClientCert';
const CLIENT_AUTH: readonly ClientAuth[] = ['NoClientCert', 'RequestClientCert', 'RequireAnyClientCert',
  'VerifyClientCertIfGiven', 'RequireAndVerifyClientCert'];

const TLS_VERSIONS = { TLS10: 'TLSv1', TLS11: 'TLSv1.1', TLS12: 'TLSv1.2', TLS13: 'TLSv1.3' } as const;

/** The cipher suites the toolkit names (Go's names, TLS 1.2 and below), as OpenSSL names them. */
const CIPHERS: Record<string, string> = {
  TLS_RSA_WITH_AES_128_CBC_SHA: 'AES128-SHA',
  TLS_RSA_WITH_AES_256_CBC_SHA: 'AES256-SHA',
  TLS_RSA_WITH_AES_128_CBC_SHA256: 'AES128-SHA256',
  TLS_RSA_WITH_AES_128_GCM_SHA256: 'AES128-GCM-SHA256',
  TLS_RSA_WITH_AES_256_GCM_SHA384: 'AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA: 'ECDHE-ECDSA-AES128-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA: 'ECDHE-ECDSA-AES256-SHA',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA: 'ECDHE-RSA-AES128-SHA',
  TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA: 'ECDHE-RSA-AES256-SHA',
  TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256: 'ECDHE-ECDSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256: 'ECDHE-RSA-AES128-SHA256',
  TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256: 'ECDHE-RSA-AES128-GCM-SHA256',
  TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256: 'ECDHE-ECDSA-AES128-GCM-SHA256',
  TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384: 'ECDHE-RSA-AES256-GCM-SHA384',
  TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384: 'ECDHE-ECDSA-AES256-GCM-SHA384',
  TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-RSA-CHACHA20-POLY1305',
  TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256: 'ECDHE-ECDSA-CHACHA20-POLY1305',
};
const CURVES: Record<string, string> = { CurveP256: 'P-256', CurveP384: 'P-384', CurveP521: 'P-521', X25519: 'X25519' };

/** The response headers the toolkit lets a configuration set, and the values it takes for some. */
const HEADERS: Record<string, readonly string[] | undefined> = {
  'Content-Security-Policy': undefined,
  'X-Frame-Options': ['deny', 'sameorigin'],
  'X-Content-Type-Options': ['nosniff'],
  'X-XSS-Protection': undefined,
  'Strict-Transport-Security': undefined,
};

export interface WebConfig {
  /** The file it was read from. */
  path: string;
  /** The files it names (certificate, key, client CA), as read. */
  files: string[];
  /** TLS, when tls_server_config is given. */
  tls?: {
    context: SecureContextOptions;
    clientAuth: ClientAuth;
    /** client_allowed_sans: a client certificate must carry one of these names. */
    allowedSans: string[];
  };
  /** Headers added to every response. */
  headers: Record<string, string>;
  /** basic_auth_users: user -> bcrypt hash; empty: no authentication. */
  users: Map<string, string>;
  /** rate_limit: requests every `intervalMs` on average, `burst` at once; undefined: none. */
  rateLimit?: { intervalMs: number; burst: number };
}

type Obj = Record<string, unknown>;

function fault(path: string, key: string, what: string): TypeError {
  return new TypeError(`--web-config ${path}: ${key} ${what}`);
}

function section(value: unknown, path: string, key: string, known: readonly string[]): Obj {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw fault(path, key, `must be a mapping, got ${describeValue(value)}`);
  }
  for (const k of Object.keys(value)) {
    if (!known.includes(k)) {
      throw fault(path, `${key ? `${key}.` : ''}${k}`,
        `is not a setting of the web configuration (known: ${known.join(', ')})`);
    }
  }
  return value as Obj;
}

function str(value: unknown, path: string, key: string): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string') throw fault(path, key, `must be a string, got ${describeValue(value)}`);
  return value;
}

function strings(value: unknown, path: string, key: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
    throw fault(path, key, `must be a list of strings, got ${describeValue(value)}`);
  }
  return value as string[];
}

/** A Go duration ("1s", "250ms", "1m30s", "0") in milliseconds. */
function duration(value: unknown, path: string, key: string): number {
  const text = typeof value === 'number' ? String(value) : value;
  if (typeof text !== 'string') throw fault(path, key, `must be a duration such as "1s", got ${describeValue(value)}`);
  if (text === '0') return 0;
  const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  let ms = 0;
  let rest = text;
  while (rest.length > 0) {
    const m = /^(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/.exec(rest);
    if (!m) throw fault(path, key, `must be a duration such as "1s", got ${describeValue(value)}`);
    ms += Number(m[1]) * units[m[2]!]!;
    rest = rest.slice(m[0].length);
  }
  return ms;
}

/** Reads and checks a web configuration file. */
export async function loadWebConfig(file: string, stop?: AbortSignal): Promise<WebConfig> {
  const path = resolve(file);
  let text: string;
  try {
    text = (await readSmallFile(path, MAX_FILE, '--web-config', stop)).toString('utf8');
  } catch (e) {
    if (e instanceof RangeError) throw e;
    throw new TypeError(`--web-config ${path} cannot be read (${(e as { code?: string }).code ?? String(e)})`);
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    throw new TypeError(`--web-config ${path}: not YAML: ${e instanceof Error ? e.message.split('\n')[0] : String(e)}`);
  }
  const top = section(doc, path, '', ['tls_server_config', 'http_server_config', 'basic_auth_users', 'rate_limit']);
  const relative = (p: string): string => (isAbsolute(p) ? p : resolve(dirname(path), p));
  const files: string[] = [];
  const read = async (p: string, key: string): Promise<Buffer> => {
    files.push(relative(p));
    try {
      return await readSmallFile(relative(p), MAX_FILE, `--web-config ${path}: ${key}`, stop);
    } catch (e) {
      if (e instanceof RangeError) throw e;
      throw fault(path, key, `names ${p}, which cannot be read (${(e as { code?: string }).code ?? String(e)})`);
    }
  };
  const config: WebConfig = { path, files, headers: {}, users: new Map() };

  if (top.tls_server_config !== undefined && top.tls_server_config !== null) {
    const key = 'tls_server_config';
    const t = section(top.tls_server_config, path, key, ['cert', 'key', 'client_ca', 'cert_file', 'key_file',
      'client_auth_type', 'client_ca_file', 'client_allowed_sans', 'min_version', 'max_version', 'cipher_suites',
      'prefer_server_cipher_suites', 'curve_preferences']);
    const pem = async (inline: string, fileKey: string): Promise<Buffer | undefined> => {
      const given = str(t[inline], path, `${key}.${inline}`);
      const named = str(t[fileKey], path, `${key}.${fileKey}`);
      if (given && named) throw fault(path, `${key}.${inline}`, `and ${key}.${fileKey} are both given: give one`);
      return given ? Buffer.from(given) : named ? read(named, `${key}.${fileKey}`) : undefined;
    };
    const [cert, privateKey, ca] = await Promise.all([pem('cert', 'cert_file'), pem('key', 'key_file'),
      pem('client_ca', 'client_ca_file')]);
    if (!cert) throw fault(path, `${key}.cert_file`, 'is required (or cert inline)');
    if (!privateKey) throw fault(path, `${key}.key_file`, 'is required (or key inline)');
    const clientAuth = (str(t.client_auth_type, path, `${key}.client_auth_type`) ?? 'NoClientCert') as ClientAuth;
    if (!CLIENT_AUTH.includes(clientAuth)) {
      throw fault(path, `${key}.client_auth_type`,
        `must be one of ${CLIENT_AUTH.join(', ')}, got ${describeValue(clientAuth)}`);
    }
    if ((clientAuth === 'VerifyClientCertIfGiven' || clientAuth === 'RequireAndVerifyClientCert') && !ca) {
      throw fault(path, `${key}.client_ca_file`, `is required with client_auth_type ${clientAuth}`);
    }
    const allowedSans = strings(t.client_allowed_sans, path, `${key}.client_allowed_sans`);
    if (allowedSans.length > 0 && clientAuth !== 'RequireAnyClientCert' &&
      clientAuth !== 'RequireAndVerifyClientCert')
    {
      throw fault(path, `${key}.client_allowed_sans`,
        'needs client_auth_type RequireAnyClientCert or RequireAndVerifyClientCert');
    }
    const version = (k: 'min_version' | 'max_version', dflt: keyof typeof TLS_VERSIONS) => {
      const v = str(t[k], path, `${key}.${k}`) ?? dflt;
      if (!(v in TLS_VERSIONS)) {
        throw fault(path, `${key}.${k}`,
          `must be one of ${Object.keys(TLS_VERSIONS).join(', ')}, got ${describeValue(v)}`);
      }
      return TLS_VERSIONS[v as keyof typeof TLS_VERSIONS];
    };
    const context: SecureContextOptions = { cert, key: privateKey, minVersion: version('min_version', 'TLS12'),
      maxVersion: version('max_version', 'TLS13') };
    if (ca) context.ca = ca;
    /** A list of Go names (cipher_suites, curve_preferences) as OpenSSL's ':'-joined names; none: undefined. */
    const openssl = (field: 'cipher_suites' | 'curve_preferences', names: Record<string, string>) => {
      const given = strings(t[field], path, `${key}.${field}`);
      const unknown = given.find((n) => !(n in names));
      if (unknown !== undefined) {
        throw fault(path, `${key}.${field}`,
          `names ${describeValue(unknown)}, which is not one of ${Object.keys(names).join(', ')}`);
      }
      return given.length > 0 ? given.map((n) => names[n]).join(':') : undefined;
    };
    const ciphers = openssl('cipher_suites', CIPHERS);
    if (ciphers !== undefined) context.ciphers = ciphers;
    const curves = openssl('curve_preferences', CURVES);
    if (curves !== undefined) context.ecdhCurve = curves;
    const prefer = t.prefer_server_cipher_suites ?? true;
    if (typeof prefer !== 'boolean') {
      throw fault(path, `${key}.prefer_server_cipher_suites`, `must be true or false, got ${describeValue(prefer)}`);
    }
    context.honorCipherOrder = prefer;
    config.tls = { context, clientAuth, allowedSans };
  }

  const h = section(top.http_server_config, path, 'http_server_config', ['http2', 'headers']);
  if (h.http2 !== undefined && typeof h.http2 !== 'boolean') {
    throw fault(path, 'http_server_config.http2', `must be true or false, got ${describeValue(h.http2)}`);
  }
  const headers = section(h.headers, path, 'http_server_config.headers', Object.keys(HEADERS));
  for (const [name, value] of Object.entries(headers)) {
    const v = str(value, path, `http_server_config.headers.${name}`);
    if (v === undefined) continue;
    const allowed = HEADERS[name];
    if (allowed && !allowed.includes(v.toLowerCase())) {
      throw fault(path, `http_server_config.headers.${name}`,
        `must be one of ${allowed.join(', ')}, got ${describeValue(v)}`);
    }
    config.headers[name] = v;
  }

  const users = section(top.basic_auth_users, path, 'basic_auth_users', Object.keys(top.basic_auth_users ?? {}));
  for (const [user, hash] of Object.entries(users)) {
    if (typeof hash !== 'string' || !/^\$2[abxy]?\$\d\d\$[./A-Za-z0-9]{53}$/.test(hash)) {
      throw fault(path, `basic_auth_users.${user}`,
        'must be a bcrypt hash ($2y$10$..., as htpasswd -nBC 10 "" makes one)');
    }
    if (user.includes(':')) {
      throw fault(path, `basic_auth_users.${user}`,
        'is a user name with a colon, which basic authentication cannot carry');
    }
    config.users.set(user, hash);
  }

  if (top.rate_limit !== undefined && top.rate_limit !== null) {
    const r = section(top.rate_limit, path, 'rate_limit', ['interval', 'burst']);
    const intervalMs = duration(r.interval ?? '0', path, 'rate_limit.interval');
    const burst = r.burst ?? 0;
    if (typeof burst !== 'number' || !Number.isInteger(burst) || burst < 0) {
      throw fault(path, 'rate_limit.burst', `must be a whole number, got ${describeValue(burst)}`);
    }
    if (intervalMs > 0) config.rateLimit = { intervalMs, burst: Math.max(1, burst) };
  }
  return config;
}

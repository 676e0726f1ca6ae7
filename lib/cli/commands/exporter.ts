// `nfct exporter`: the Prometheus exporter of every network namespace, served over HTTP.
import { createExporter } from '../../exporter/exporter.js';
import { DEFAULT_EXPORTER_PORT, parseListen, serveExporter } from '../../exporter/server.js';
import { parseCollector } from '../../flows/collector.js';
import { EXPORTER_HELP } from '../help.js';

function count(text: string | undefined, flag: string, min: number, max: number): number {
  const n = Number(text);
  if (text === undefined || !/^\d+$/.test(text) || n < min || n > max) {
    throw new RangeError(`${flag} must be a whole number from ${min} to ${max}, got ${JSON.stringify(text ?? '')}`);
  }
  return n;
}

/** `nfct exporter [--listen [HOST]:PORT] [--web-config FILE] [--events] [--nflog-group N]... [--per-cpu] [--netns-regex RE] ...` */
export async function exporterCommand(argv: string[]): Promise<void> {
  let listen: { host: string | undefined; port: number } = { host: undefined, port: DEFAULT_EXPORTER_PORT };
  let webConfig: string | undefined;
  let maxConnections: number | undefined;
  let headersTimeout: number | undefined;
  let events = false;
  let perCpu = false;
  const nflogGroups: number[] = [];
  let pattern: RegExp | undefined;
  let concurrency: number | undefined;
  let maxNamespaces: number | undefined;
  let maxPrefixes: number | undefined;
  let podLogDir: string | undefined;
  const ipfix: string[] = [];
  let enableSysctls = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--listen') listen = parseListen(argv[++i] ?? '', '--listen');
    else if (a === '--web-config') {
      webConfig = argv[++i];
      if (!webConfig) throw new TypeError('--web-config needs a file name');
    } else if (a === '--max-connections') maxConnections = count(argv[++i], '--max-connections', 1, 65536);
    else if (a === '--header-timeout') headersTimeout = count(argv[++i], '--header-timeout', 1, 600) * 1000;
    else if (a === '--events') events = true;
    else if (a === '--per-cpu') perCpu = true;
    else if (a === '--ipfix') ipfix.push(parseCollector(argv[++i], '--ipfix') && argv[i]!);
    else if (a === '--enable-sysctls') enableSysctls = true;
    else if (a === '--nflog-group') nflogGroups.push(count(argv[++i], '--nflog-group', 0, 65535));
    else if (a === '--concurrency') concurrency = count(argv[++i], '--concurrency', 1, 1024);
    else if (a === '--max-namespaces') maxNamespaces = count(argv[++i], '--max-namespaces', 1, 100_000);
    else if (a === '--max-prefixes') maxPrefixes = count(argv[++i], '--max-prefixes', 1, 10_000);
    else if (a === '--pod-log-dir') {
      podLogDir = argv[++i] ?? '';
      if (!podLogDir.startsWith('/')) {
        throw new TypeError(`--pod-log-dir must be an absolute path, got ${JSON.stringify(podLogDir)}`);
      }
    } else if (a === '--netns-regex') {
      const text = argv[++i] ?? '';
      try {
        pattern = new RegExp(text);
      } catch {
        throw new TypeError(`--netns-regex must be a regular expression, got ${JSON.stringify(text)}`);
      }
    } else if (a === '--help' || a === '-h') return void process.stdout.write(EXPORTER_HELP);
    else throw new TypeError(`nfct exporter: unknown option \`${a}'`);
  }
  const exporter = await createExporter({
    events,
    perCpu,
    nflogGroups,
    concurrency,
    maxNamespaces,
    maxPrefixes,
    ...(podLogDir !== undefined ? { podLogDir } : {}),
    flows: ipfix.length > 0 ? { collectors: ipfix, sysctls: enableSysctls ? 'enable' : 'keep' } : undefined,
    namespaces: pattern
      ? (ns) =>
        ns.names.some((n) => pattern.test(n)) || (ns.podUid !== undefined && pattern.test(ns.podUid)) ||
        (ns.pod !== undefined && pattern.test(`${ns.pod.namespace}/${ns.pod.name}`))
      : 'all',
  });
  let server;
  try {
    server = await serveExporter(exporter, { ...listen, webConfig, maxConnections, headersTimeout });
  } catch (e) {
    await exporter.close();
    throw e;
  }
  const where = server.address();
  const scheme = 'setSecureContext' in server ? 'https' : 'http';
  process.stderr.write(
    `nfct exporter: serving ${scheme} /metrics on ${
      typeof where === 'object' && where ? `${where.address}:${where.port}` : String(where)
    }\n`,
  );
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve);
    process.once('SIGTERM', resolve);
  });
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await exporter.close();
}

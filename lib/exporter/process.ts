// The exporter's own figures, under the names every Prometheus client library uses
// (process_cpu_seconds_total, process_resident_memory_bytes, ...), the Node.js heap, and
// nfct_build_info. Read from /proc/self and process.* at each scrape.
import { readdirSync, readFileSync } from 'node:fs';

import type { Registry } from 'prom-client';

import { packageVersion } from '../core/package-info.js';

/** Clock ticks per second of /proc/self/stat's times (USER_HZ: 100 on every Linux ABI). */
const USER_HZ = 100;

/** Fields of /proc/self/stat after the command name: [3] is field 3 (state), as proc(5) numbers them. */
function procStat(): string[] {
  const text = readFileSync('/proc/self/stat', 'utf8');
  return ['', '', '', ...text.slice(text.lastIndexOf(')') + 2).split(' ')];
}

/** The time the system booted, in seconds since the epoch (/proc/stat btime). */
function bootTime(): number {
  const m = /^btime (\d+)$/m.exec(readFileSync('/proc/stat', 'utf8'));
  return m ? Number(m[1]) : 0;
}

function maxFds(): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
  return m && m[1] !== 'unlimited' ? Number(m[1]) : -1;
}

/** process_* and nodejs_* metrics and nfct_build_info in `registry`, each unless it holds that name already. */
export function registerProcessMetrics(registry: Registry, client: typeof import('prom-client')): void {
  const { Counter, Gauge } = client;
  const has = (name: string): boolean => registry.getSingleMetric(name) !== undefined;
  const gauge = (name: string, help: string, read: () => number): void => {
    if (!has(name)) {
      new Gauge({ name, help, registers: [registry], collect() {
        this.set(read());
      } });
    }
  };
  const counter = (name: string, help: string, read: () => number): void => {
    if (!has(name)) {
      new Counter({ name, help, registers: [registry], collect() {
        this.reset();
        this.inc(read());
      } });
    }
  };
  const cpu = (): NodeJS.CpuUsage => process.cpuUsage();
  counter('process_cpu_seconds_total', 'CPU time the exporter process has used, user and system together, in seconds.',
    () => {
      const c = cpu();
      return (c.user + c.system) / 1e6;
    });
  counter('process_cpu_user_seconds_total', 'CPU time the exporter process has used in user mode, in seconds.',
    () => cpu().user / 1e6);
  counter('process_cpu_system_seconds_total',
    'CPU time the exporter process has used in the kernel (system mode), in seconds.', () => cpu().system / 1e6);
  const started = bootTime() + Number(procStat()[22]) / USER_HZ;
  gauge('process_start_time_seconds', 'When the exporter process started, in seconds since the Unix epoch.',
    () => started);
  gauge('process_resident_memory_bytes', 'Memory of the exporter process resident in RAM (RSS), in bytes.',
    () => process.memoryUsage.rss());
  gauge('process_virtual_memory_bytes', 'Virtual memory size of the exporter process, in bytes.',
    () => Number(procStat()[23]));
  gauge('process_open_fds',
    'File descriptors the exporter process has open (sockets of the namespaces it reads among them).',
    () => readdirSync('/proc/self/fd').length);
  gauge('process_max_fds',
    'The most file descriptors the exporter process may open (RLIMIT_NOFILE), -1 when unlimited.', maxFds);
  gauge('nodejs_heap_size_used_bytes', 'JavaScript heap in use by the exporter (V8), in bytes.',
    () => process.memoryUsage().heapUsed);
  gauge('nodejs_heap_size_total_bytes', 'JavaScript heap the exporter has reserved (V8), in bytes.',
    () => process.memoryUsage().heapTotal);
  gauge('nodejs_external_memory_bytes',
    'Memory held outside the JavaScript heap for JavaScript objects (buffers, native records), in bytes.',
    () => process.memoryUsage().external);
  gauge('nodejs_array_buffers_bytes', 'Memory of ArrayBuffers and Buffers (part of the external memory), in bytes.',
    () => process.memoryUsage().arrayBuffers);
  if (!has('nfct_build_info')) {
    const info = new Gauge({
      name: 'nfct_build_info',
      help:
        'Always 1: the @x/nfct version serving these metrics, the Node.js version running it and the N-API version that Node.js offers the addon.',
      labelNames: ['version', 'nodejs', 'napi'],
      registers: [registry],
    });
    info.set({ version: packageVersion(), nodejs: process.version, napi: process.versions.napi ?? '' }, 1);
  }
}

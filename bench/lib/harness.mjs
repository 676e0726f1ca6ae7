// Helpers shared by the benchmarks in bench/*.mjs.
//
// Everything that touches conntrack happens inside a throwaway network
// namespace made here and always removed again, on success, on an exception
// and on SIGINT/SIGTERM/SIGHUP. The only root-namespace state ever changed is
// net.netfilter.nf_conntrack_max (global, read-only inside a netns), and it
// is restored the same way.

import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync, rmSync, statSync,
  writeFileSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

export const BENCH_DIR = dirname(dirname(fileURLToPath(import.meta.url)));
export const REPO_DIR = dirname(BENCH_DIR);
export const C_DIR = join(BENCH_DIR, 'c');
export const C_OUT = join(C_DIR, 'out');
export const RESULTS_FILE = join(BENCH_DIR, 'RESULTS.md');
const CT_MAX = '/proc/sys/net/netfilter/nf_conntrack_max';
// Node reads the certificates NODE_EXTRA_CA_CERTS names as it starts, before any script runs:
// a system bundle adds about 50 ms to every node process on this machine (0.07 s to start
// instead of 0.02 s). Nothing measured here uses TLS and a node or a pod running nfct has no
// reason to set it, so the commands and workers run without it, and each results section
// says so.
export const UNSET_ENV = ['NODE_EXTRA_CA_CERTS'].filter((name) => process.env[name] !== undefined);
for (const name of UNSET_ENV) delete process.env[name];
const C_TOOLS = ['ct_fill', 'ct_rawwalk', 'ct_lnfct_parse', 'ct_flush', 'ct_churn', 'ct_events', 'runstat', 'udp_flood',
  'nflog_recv'];

/**
 * The command line of a benchmark: `--NAME VALUE` for each key of `values`, its default the
 * value given (read as a number where the default is one, else kept as text), and `--NAME` for
 * each key of `flags` (a boolean, its default the value given). Anything else is refused,
 * naming the option.
 */
export function benchArgs(values, flags = {}) {
  const options = {};
  for (const [name, value] of Object.entries(values)) options[name] = { type: 'string', default: String(value) };
  for (const [name, value] of Object.entries(flags)) options[name] = { type: 'boolean', default: value };
  const parsed = parseArgs({ options }).values;
  for (const [name, value] of Object.entries(values)) {
    if (typeof value === 'number') parsed[name] = Number(parsed[name]);
  }
  return parsed;
}

/** Absolute path of a bench C tool (see bench/c/). */
export function tool(name) {
  return join(C_OUT, name);
}

export function log(...args) {
  process.stderr.write(`[bench] ${args.join(' ')}\n`);
}

// ---------------------------------------------------------------------------
// Command-line options

/** A comma-separated option: its trimmed names, each one of `allowed` (else a RangeError). */
export function listOption(text, allowed, what) {
  const names = text.split(',').map((s) => s.trim()).filter(Boolean);
  for (const n of names) {
    if (!allowed.includes(n)) throw new RangeError(`unknown ${what} '${n}' (${allowed.join(', ')})`);
  }
  return names;
}

/** Refuses `n`, the value of `flag`, unless it is an integer in min..max (`note` says what a value means). */
export function checkRange(flag, n, min, max = Number.MAX_SAFE_INTEGER, note = '') {
  if (Number.isInteger(n) && n >= min && n <= max) return;
  const range = max === Number.MAX_SAFE_INTEGER ? `${min} or more` : `in ${min}..${max}`;
  throw new RangeError(`${flag} must be an integer ${range}${note ? ` (${note})` : ''}`);
}

/** The option checks every receiver benchmark has: --repeat, --quiet-ms. */
export function checkRepeat(repeat) {
  if (!Number.isInteger(repeat) || repeat < 1) throw new RangeError('--repeat must be a positive integer');
}

export function checkQuietMs(quietMs) {
  if (!Number.isFinite(quietMs) || quietMs < 100 || quietMs > 10000) {
    throw new RangeError('--quiet-ms must be in 100..10000');
  }
}

/** Socket buffer sizes given as [flag, bytes] pairs: integers in 4096..2^30. */
export function checkBuffers(pairs) {
  for (const [name, v] of pairs) {
    if (!Number.isInteger(v) || v < 4096 || v > 2 ** 30) {
      throw new RangeError(`${name} must be an integer in 4096..2^30`);
    }
  }
}

// ---------------------------------------------------------------------------
// Cleanup on every way out

const cleanups = new Map(); // id -> synchronous function
let nextCleanupId = 1;
let handlersInstalled = false;

function runCleanupsSync() {
  // Newest first: a netns is removed before the limit it needed is restored.
  for (const id of [...cleanups.keys()].reverse()) {
    const fn = cleanups.get(id);
    cleanups.delete(id);
    try {
      fn();
    } catch (err) {
      process.stderr.write(`[bench] cleanup failed: ${err?.message ?? err}\n`);
    }
  }
}

function installHandlers() {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on('exit', runCleanupsSync);
  for (const [sig, num] of [['SIGINT', 2], ['SIGTERM', 15], ['SIGHUP', 1]]) {
    process.on(sig, () => {
      process.stderr.write(`[bench] ${sig}: cleaning up\n`);
      runCleanupsSync();
      process.exit(128 + num);
    });
  }
}

export function addCleanup(fn) {
  installHandlers();
  const id = nextCleanupId++;
  cleanups.set(id, fn);
  return () => {
    if (!cleanups.has(id)) return;
    cleanups.delete(id);
    fn();
  };
}

// ---------------------------------------------------------------------------
// C tools

/** Builds bench/c/out/* with bench/c/build.sh when a binary is missing or stale. */
export function ensureBuilt() {
  const newestSource = Math.max(
    ...['common.h', 'build.sh', ...C_TOOLS.map((t) => `${t}.c`)].map(
      (f) => statSync(join(C_DIR, f)).mtimeMs,
    ),
  );
  const stale = C_TOOLS.some((t) => {
    const bin = tool(t);
    return !existsSync(bin) || statSync(bin).mtimeMs < newestSource;
  });
  if (stale) {
    log('building C tools (bench/c/build.sh)');
    execFileSync(join(C_DIR, 'build.sh'), { stdio: ['ignore', 'ignore', 'inherit'] });
  }
}

/** Parses the "key value" lines printed by the C tools and runstat. */
export function parseKeyValues(text) {
  const out = {};
  for (const line of text.split('\n')) {
    const m = /^([a-z_]+) (-?[0-9.]+)$/.exec(line.trim());
    if (m) out[m[1]] = Number(m[2]);
  }
  return out;
}

/**
 * Runs `npm run build:ts` when dist/index.mjs (what bench/workers/ import) is missing or older
 * than a file in lib/. The addon (build/Release) is not rebuilt here: a warning says when a
 * native/ source is newer than it.
 */
export function ensureDist() {
  const newest = (dir, re) => {
    let t = 0;
    for (const f of readdirSync(dir, { recursive: true })) {
      if (re.test(String(f))) t = Math.max(t, statSync(join(dir, String(f))).mtimeMs);
    }
    return t;
  };
  const entry = join(REPO_DIR, 'dist', 'index.mjs');
  if (!existsSync(entry) || statSync(entry).mtimeMs < newest(join(REPO_DIR, 'lib'), /\.ts$/)) {
    log('dist/ is missing or older than lib/: npm run build:ts');
    execFileSync('npm', ['run', '--silent', 'build:ts'], { cwd: REPO_DIR, stdio: ['ignore', 'ignore', 'inherit'] });
  }
  const addonFile = join(REPO_DIR, 'build', 'Release', 'nfct.node');
  if (!existsSync(addonFile)) throw new Error(`${addonFile} is missing: npm run build:native`);
  if (statSync(addonFile).mtimeMs < newest(join(REPO_DIR, 'native'), /\.(cc|h)$/)) {
    log('warning: build/Release/nfct.node is older than native/: the addon measured may be stale');
  }
}

// ---------------------------------------------------------------------------
// Namespaces and limits

let netnsCounter = 0;

/**
 * Creates a uniquely named netns, runs `await fn(name)`, and deletes the netns
 * afterwards whatever happens (exception, SIGINT, SIGTERM, process exit).
 */
export async function withNetns(fn) {
  // `nfct-<prefix>-<pid>-<6 hex>`: the pid right before the suffix, as test/helpers/netns-core.ts
  // expects; its leftover clean-up removes a namespace whose pid there is not alive.
  const name = `nfct-bench-${++netnsCounter}-${process.pid}-${randomBytes(3).toString('hex')}`;
  execFileSync('ip', ['netns', 'add', name], { stdio: ['ignore', 'ignore', 'inherit'] });
  const remove = addCleanup(() => {
    spawnSync('ip', ['netns', 'delete', name], { stdio: ['ignore', 'ignore', 'inherit'] });
  });
  try {
    return await fn(name);
  } finally {
    remove();
  }
}

/** Current value of the global nf_conntrack_max. */
export function conntrackMax() {
  return Number(readFileSync(CT_MAX, 'utf8').trim());
}

/**
 * Raises the global nf_conntrack_max to at least n. Returns an idempotent
 * function restoring the previous value; it also runs on SIGINT/exit.
 */
export function raiseConntrackMax(n) {
  const previous = conntrackMax();
  if (previous >= n) return () => {};
  writeFileSync(CT_MAX, `${n}\n`);
  log(`nf_conntrack_max ${previous} -> ${n}`);
  return addCleanup(() => {
    writeFileSync(CT_MAX, `${previous}\n`);
    process.stderr.write(`[bench] nf_conntrack_max restored to ${previous}\n`);
  });
}

// ---------------------------------------------------------------------------
// Running things

function runChild(cmd, args, { stdout = 'pipe', stderr = 'pipe', cwd = REPO_DIR } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', stdout, stderr] });
    // If we are interrupted, do not leave the child running in a dying netns.
    const forget = addCleanup(() => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    });
    const out = [];
    const err = [];
    child.stdout?.on('data', (d) => out.push(d));
    child.stderr?.on('data', (d) => err.push(d));
    child.on('error', (err) => {
      forget();
      reject(err);
    });
    child.on('close', (code, signal) => {
      forget();
      resolve({
        code: code ?? 128,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

function nsArgv(ns, argv) {
  return ns ? ['ip', ['netns', 'exec', ns, ...argv]] : [argv[0], argv.slice(1)];
}

/**
 * Fills the conntrack table of netns `ns` with `n` entries using ct_fill.
 * opts: { proto: 'udp'|'tcp'|'mix', mark, seed, base, timeout, batch (bytes per sendmsg) }.
 * Returns { created, seconds, rate } (time measured inside ct_fill).
 */
export async function fill(ns, n, opts = {}) {
  const argv = [tool('ct_fill'), String(n)];
  if (opts.proto) argv.push('--proto', opts.proto);
  if (opts.mark !== undefined) argv.push('--mark', String(opts.mark));
  if (opts.seed !== undefined) argv.push('--seed', String(opts.seed));
  if (opts.base) argv.push('--base', opts.base);
  if (opts.timeout !== undefined) argv.push('--timeout', String(opts.timeout));
  if (opts.batch !== undefined) argv.push('--batch', String(opts.batch));
  const [cmd, args] = nsArgv(ns, argv);
  const r = await runChild(cmd, args);
  const kv = parseKeyValues(r.stdout);
  if (r.code !== 0) {
    throw new Error(`ct_fill ${n} in ${ns} failed (exit ${r.code}): ${r.stderr.trim()}`);
  }
  return { created: kv.created, seconds: kv.seconds, rate: n / kv.seconds };
}

/**
 * Runs argv inside netns `ns` (or in the current netns when ns is null) under
 * bench/c/out/runstat, which measures the command alone (not `ip netns exec`).
 * options.stdout: 'ignore' sends stdout to /dev/null, 'pipe' captures it.
 * options.check (default true): throw when the command exits non-zero.
 * Returns { seconds, rssKb, userSeconds, sysSeconds, status, stdout, stderr }.
 */
export async function timeCommand(ns, argv, { stdout = 'pipe', check = true, cwd } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-'));
  const statFile = join(dir, 'stat');
  try {
    const [cmd, args] = nsArgv(ns, [tool('runstat'), '-o', statFile, '--', ...argv]);
    const r = await runChild(cmd, args, { stdout, cwd });
    if (!existsSync(statFile)) {
      throw new Error(`${argv.join(' ')}: no measurement (exit ${r.code}): ${r.stderr.trim()}`);
    }
    const st = parseKeyValues(readFileSync(statFile, 'utf8'));
    if (check && st.status !== 0) {
      throw new Error(`${argv.join(' ')} exited with ${st.status}: ${r.stderr.trim()}`);
    }
    return {
      seconds: st.wall_s,
      rssKb: st.maxrss_kb,
      userSeconds: st.user_s,
      sysSeconds: st.sys_s,
      status: st.status,
      stdout: r.stdout,
      stderr: r.stderr,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Runs a bench/workers/*.mjs script under runstat (in the current netns: the worker opens its
 * socket inside the netns it is given) and parses the last line it prints as JSON.
 * Returns { json, seconds (process wall), rssKb, userSeconds, sysSeconds }.
 */
export async function timeWorker(script, args) {
  const r = await timeCommand(null, [process.execPath, script, ...args], { stdout: 'pipe' });
  const line = r.stdout.trim().split('\n').pop() ?? '';
  let json;
  try {
    json = JSON.parse(line);
  } catch {
    throw new Error(`${script} printed no JSON line: ${JSON.stringify(r.stdout.slice(-200))} ${r.stderr.trim()}`);
  }
  return { json, seconds: r.seconds, rssKb: r.rssKb, userSeconds: r.userSeconds, sysSeconds: r.sysSeconds };
}

/**
 * Starts argv (inside netns `ns`, or here when ns is null) under bench/c/out/runstat and returns
 * at once, for long-running receivers the benchmark talks to while they run.
 * options.stdin: 'ignore' (default) or 'pipe' (then `write(text)` sends to it).
 * options.onStdout(chunk): called with every stdout Buffer; without it stdout is kept and
 * readable as `stdout()` (text so far). stderr is always kept.
 * `pid` is runstat's: SIGINT/SIGTERM/SIGHUP sent to it reach the command; other signals
 * (SIGSTOP, SIGCONT) have to go to the command's own pid. A pid given to `resumeOnKill(pid)`
 * (a process the caller stopped) gets SIGCONT after every kill(), so a pending SIGTERM can
 * end it. `done` resolves, once the command has exited, to { code, stdout, stderr, seconds,
 * rssKb, userSeconds, sysSeconds, status }. The command is killed the same way if the
 * benchmark exits first.
 */
export function startCommand(ns, argv, { stdin = 'ignore', onStdout, cwd = REPO_DIR } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-'));
  const statFile = join(dir, 'stat');
  const [cmd, args] = nsArgv(ns, [tool('runstat'), '-o', statFile, '--', ...argv]);
  const child = spawn(cmd, args, { cwd, stdio: [stdin, 'pipe', 'pipe'] });
  const stopped = new Set();
  const kill = (sig = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) child.kill(sig);
    for (const pid of stopped) {
      try {
        process.kill(pid, 'SIGCONT');
      } catch {
        stopped.delete(pid); // gone already
      }
    }
  };
  const forget = addCleanup(() => {
    kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  });
  const out = [];
  const err = [];
  child.stdout.on('data', (d) => (onStdout ? onStdout(d) : out.push(d)));
  child.stderr.on('data', (d) => err.push(d));
  const done = new Promise((resolve, reject) => {
    child.on('error', (e) => {
      forget();
      rmSync(dir, { recursive: true, force: true });
      reject(e);
    });
    child.on('close', (code, signal) => {
      // Read runstat's figures first: forget() runs the clean-up, which removes `dir`.
      const st = existsSync(statFile) ? parseKeyValues(readFileSync(statFile, 'utf8')) : {};
      forget();
      rmSync(dir, { recursive: true, force: true });
      resolve({
        code: code ?? 128,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        seconds: st.wall_s,
        rssKb: st.maxrss_kb,
        userSeconds: st.user_s,
        sysSeconds: st.sys_s,
        status: st.status,
      });
    });
  });
  return {
    child,
    pid: child.pid,
    done,
    stdout: () => Buffer.concat(out).toString(),
    write: (text) => child.stdin?.write(text),
    kill,
    resumeOnKill: (pid) => stopped.add(pid),
  };
}

/** Waits for a startCommand's `done`, killing the command if it takes more than `seconds`. */
export async function within(p, seconds, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => {
      p.kill('SIGTERM');
      reject(new Error(`${what} did not finish within ${seconds} s`));
    }, seconds * 1000);
  });
  try {
    return await Promise.race([p.done, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Waits until the file of a startToFile() command shows `sentinelText` in its tail, or, when
 * that never comes, until the command is done: with `idle` (a function), once the file has not
 * grown while idle() held for IDLE_MS (the command has nothing left to write; a command starved
 * of CPU is not idle, however long it stays quiet); without it, once the file has not grown for
 * `quietMs`. `maxSeconds` bounds the wait either way. Returns { sentinel, lastGrowth
 * (performance.now()), idle (it ended idle) }.
 */
export async function waitForFileEnd(out, sentinelText, { quietMs, maxSeconds, idle }) {
  const deadline = performance.now() + maxSeconds * 1000;
  let size = out.size();
  let grew = performance.now();
  let idleSince = NaN;
  while (performance.now() < deadline) {
    await sleep(20);
    const now = out.size();
    if (now !== size) {
      size = now;
      grew = performance.now();
      idleSince = NaN;
      if (out.tailHas(sentinelText)) return { sentinel: true, lastGrowth: grew, idle: false };
    } else if (idle) {
      if (!idle()) idleSince = NaN;
      else if (!Number.isFinite(idleSince)) idleSince = performance.now();
      else if (performance.now() - idleSince >= IDLE_MS) return { sentinel: false, lastGrowth: grew, idle: true };
    } else if (performance.now() - grew >= quietMs) break;
  }
  return { sentinel: false, lastGrowth: grew, idle: false };
}

/** How long a receiver must stay idle (processIdle(), its socket empty) to be done. */
export const IDLE_MS = 200;

/**
 * Whether process `pid` and every process under it have every thread asleep (state S, or
 * stopped): none running or waiting for a CPU (R) or for the disk (D). A receiver that still
 * has events to write is never all asleep: its threads are running or runnable.
 */
export function processIdle(pid) {
  const pids = [pid];
  for (let i = 0; i < pids.length; i++) {
    let tasks;
    try {
      tasks = readdirSync(`/proc/${pids[i]}/task`);
    } catch {
      continue; // gone
    }
    for (const tid of tasks) {
      try {
        const stat = readFileSync(`/proc/${pids[i]}/task/${tid}/stat`, 'utf8');
        const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
        if (state === 'R' || state === 'D') return false;
        const children = readFileSync(`/proc/${pids[i]}/task/${tid}/children`, 'utf8').trim();
        if (children) pids.push(...children.split(/\s+/).map(Number));
      } catch {
        // The thread ended meanwhile.
      }
    }
  }
  return true;
}

/**
 * A command whose stdout goes to a file, as `nfct -E > file` (run here, or in netns `ns`),
 * under runstat (startCommand). The file is read only in pieces while it runs: `size()`,
 * `has(text)` (anywhere; for the small file before a burst), `tailHas(text)` (its last 64 KiB),
 * and at the end `lines(marker)`: { lines, marked } where marked counts the lines holding
 * `marker`. `remove()` deletes the file.
 */
export function startToFile(argv, { ns = null } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'nfct-bench-out-'));
  const file = join(dir, 'out');
  const p = startCommand(ns, ['sh', '-c', 'exec "$@" > "$0"', file, ...argv]);
  const forget = addCleanup(() => rmSync(dir, { recursive: true, force: true }));
  const size = () => {
    try {
      return statSync(file).size;
    } catch {
      return 0;
    }
  };
  const tail = (n) => {
    const len = size();
    const at = Math.max(0, len - n);
    const buf = Buffer.alloc(len - at);
    const fd = openSync(file, 'r');
    try {
      readSync(fd, buf, 0, buf.length, at);
    } finally {
      closeSync(fd);
    }
    return buf;
  };
  return {
    p,
    file,
    size,
    has: (text) => size() > 0 && readFileSync(file).includes(text),
    tailHas: (text) => tail(64 * 1024).includes(text),
    lines(marker) {
      const buf = readFileSync(file);
      let lines = 0;
      for (let i = buf.indexOf(10); i !== -1; i = buf.indexOf(10, i + 1)) lines++;
      let marked = 0;
      for (let i = buf.indexOf(marker); i !== -1;) {
        marked++;
        const end = buf.indexOf(10, i);
        if (end === -1) break;
        i = buf.indexOf(marker, end);
      }
      return { lines, marked };
    },
    remove: forget,
  };
}

/**
 * One bounded burst of conntrack events in netns `ns` with bench/c/ct_churn: `n` entries
 * created and deleted in batches (2n events). opts: { rate (events/s; default as fast as it
 * goes), batch (bytes per sendmsg, default 64 KiB), chunk, proto, seed, sentinel (one more
 * entry, 10.255.255.254, after the burst) }.
 * Returns { events, created, deleted, seconds, rate, createSeconds, deleteSeconds, sentinel }.
 */
export async function churn(ns, n, opts = {}) {
  const argv = [tool('ct_churn'), String(n)];
  if (opts.rate) argv.push('--rate', String(opts.rate));
  if (opts.chunk) argv.push('--chunk', String(opts.chunk));
  if (opts.batch) argv.push('--batch', String(opts.batch));
  if (opts.proto) argv.push('--proto', opts.proto);
  if (opts.seed !== undefined) argv.push('--seed', String(opts.seed));
  if (opts.sentinel) argv.push('--sentinel');
  const [cmd, args] = nsArgv(ns, argv);
  const r = await runChild(cmd, args);
  const kv = parseKeyValues(r.stdout);
  if (r.code !== 0) throw new Error(`ct_churn ${n} in ${ns} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return {
    events: kv.events,
    created: kv.created,
    deleted: kv.deleted,
    seconds: kv.seconds,
    rate: kv.rate,
    createSeconds: kv.create_seconds,
    deleteSeconds: kv.delete_seconds,
    sentinel: kv.sentinel === 1,
  };
}

/**
 * Loads an nftables ruleset (text for `nft -f -`) into netns `ns`, after bringing its loopback
 * up (a new netns has `lo` down, so nothing reaches 127.0.0.1 until then).
 */
export function nftLoad(ns, ruleset) {
  execFileSync('ip', ['-n', ns, 'link', 'set', 'lo', 'up'], { stdio: ['ignore', 'ignore', 'inherit'] });
  execFileSync('ip', ['netns', 'exec', ns, 'nft', '-f', '-'], { input: ruleset, stdio: ['pipe', 'ignore', 'inherit'] });
}

/**
 * A bounded UDP flood inside netns `ns` with bench/c/udp_flood: `n` datagrams of opts.size bytes
 * (default 64) to opts.dst (default 127.0.0.1) port opts.port (default 9999), opts.batch per
 * sendmmsg (default 64), paced to opts.rate datagrams/s when given, at most opts.maxSeconds
 * (default 30); opts.sentinel: one more datagram to that port afterwards.
 * Returns { sent, seconds, rate, calls, errors, sentinel }.
 */
export async function udpFlood(ns, n, opts = {}) {
  const argv = [tool('udp_flood'), String(n)];
  if (opts.dst) argv.push('--dst', opts.dst);
  if (opts.port) argv.push('--port', String(opts.port));
  if (opts.size) argv.push('--size', String(opts.size));
  if (opts.batch) argv.push('--batch', String(opts.batch));
  if (opts.rate) argv.push('--rate', String(opts.rate));
  if (opts.maxSeconds) argv.push('--max-seconds', String(opts.maxSeconds));
  if (opts.sentinel) argv.push('--sentinel', String(opts.sentinel));
  const [cmd, args] = nsArgv(ns, argv);
  const r = await runChild(cmd, args);
  const kv = parseKeyValues(r.stdout);
  if (r.code !== 0) throw new Error(`udp_flood ${n} in ${ns} failed (exit ${r.code}): ${r.stderr.trim()}`);
  return { sent: kv.sent, seconds: kv.seconds, rate: kv.rate, calls: kv.calls, errors: kv.errors,
    sentinel: kv.sentinel === 1 };
}

/**
 * The NFLOG instances (bound groups) of netns `ns`, from /proc/net/netfilter/nfnetlink_log:
 * [{ group, portid, qlen (packets the kernel holds for the next batch), copyMode, copyRange,
 * flushTimeout (1/100 s) }]. Empty when nfnetlink_log is not loaded or nothing is bound.
 */
export function nflogInstances(ns) {
  let text;
  try {
    text = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netfilter/nfnetlink_log'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    });
  } catch {
    return [];
  }
  return text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).map(Number))
    .filter((f) => f.length >= 6 && f.every(Number.isFinite))
    .map(([group, portid, qlen, copyMode, copyRange, flushTimeout]) => ({ group, portid, qlen, copyMode, copyRange,
      flushTimeout })
    );
}

/**
 * Bytes queued on the receive side of all netlink sockets of protocol `protocol` (default 12,
 * NETLINK_NETFILTER) in netns `ns` (the Rmem column of /proc/net/netlink, read in the netns).
 * Unlike netfilterRmem() it counts sockets without multicast groups too (NFLOG binds a group by
 * a config message, not a membership).
 */
export function netlinkRmem(ns, protocol = 12) {
  const text = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netlink'], { encoding: 'utf8' });
  let bytes = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 5 && f[1] === String(protocol)) bytes += Number(f[4]);
  }
  return bytes;
}

/**
 * Shows that a receiver in netns `ns` is subscribed: sends a probe, one every `intervalMs`,
 * until `isReady()` says the receiver saw one (polled every `pollMs`), at most `maxProbes`
 * times (then throws). The probe is `probe(k)` (k = 1, 2, ...); by default a ct_churn probe
 * entry (10.255.0.1 port 1024 + k), `what` naming them in the error. Returns the number of
 * probes sent.
 */
export async function probeUntilReady(ns, isReady,
  { intervalMs = 100, maxProbes = 100, pollMs = 10, probe, what = 'probe entries' } = {})
{
  const send = probe ??
    (async (k) => {
      const [cmd, args] = nsArgv(ns, [tool('ct_churn'), '--probe', String(k)]);
      const r = await runChild(cmd, args);
      if (r.code !== 0) throw new Error(`ct_churn --probe ${k} in ${ns} failed: ${r.stderr.trim()}`);
    });
  for (let k = 1; k <= maxProbes; k++) {
    await send(k);
    const deadline = Date.now() + intervalMs;
    while (Date.now() < deadline) {
      if (isReady()) return k;
      await sleep(pollMs);
    }
  }
  if (isReady()) return maxProbes;
  throw new Error(`no receiver in ${ns} saw any of ${maxProbes} ${what}`);
}

export function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Bytes queued on the receive side of the NETLINK_NETFILTER sockets of netns `ns` that are
 * subscribed to a multicast group (the Rmem column of /proc/net/netlink, which shows the
 * sockets of the netns it is read in).
 */
export function netfilterRmem(ns, { subscribed = true } = {}) {
  const text = execFileSync('ip', ['netns', 'exec', ns, 'cat', '/proc/net/netlink'], { encoding: 'utf8' });
  let bytes = 0;
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // sk Eth Pid Groups Rmem ... (subscribed: false counts sockets bound otherwise too: NFLOG)
    if (f.length >= 5 && f[1] === '12' && (!subscribed || !/^0+$/.test(f[3]))) bytes += Number(f[4]);
  }
  return bytes;
}

/** Entries in the conntrack table of netns `ns` (`conntrack -C`). */
export async function countEntries(ns) {
  const [cmd, args] = nsArgv(ns, ['conntrack', '-C']);
  const r = await runChild(cmd, args);
  const n = Number(r.stdout.trim());
  if (r.code !== 0 || !Number.isInteger(n)) throw new Error(`conntrack -C in ${ns} failed: ${r.stderr.trim()}`);
  return n;
}

/**
 * A dump walks the global conntrack hash, so entries of a netns deleted a moment ago (freed
 * asynchronously) slow every other netns's dumps for a few hundred ms. Waits until an empty
 * dump in netns `ns` (empty, or about to be filled) takes at most `maxSeconds` (default 6 ms),
 * polling every 100 ms for at most `timeoutSeconds`. Returns the last empty-dump seconds.
 */
export async function settleHash(ns, { maxSeconds = 0.006, timeoutSeconds = 10 } = {}) {
  const deadline = Date.now() + timeoutSeconds * 1000;
  for (;;) {
    const r = await timeCommand(ns, [tool('ct_rawwalk')]);
    const kv = parseKeyValues(r.stdout);
    if (kv.entries !== 0) throw new Error(`settleHash: netns ${ns} is not empty (${kv.entries} entries)`);
    if (kv.seconds <= maxSeconds || Date.now() > deadline) {
      if (kv.seconds > maxSeconds) log(`warning: empty dump still takes ${fmtFixed(kv.seconds, 4)} s`);
      return kv.seconds;
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * The entries `ct_fill n --proto mix --base BASE --seed SEED --timeout T` creates, as @x/nfct
 * FlowInput objects: entry i is udp (even i, dport 53) or tcp ESTABLISHED (odd i, dport 80),
 * from BASE + i / 60000 port 1024 + i % 60000 to 192.168.(SEED >> 8 & 255).(SEED & 255).
 */
export function mixFlows(n, { base = '10.0.0.1', seed = 1, timeout = 3600 } = {}) {
  const b = base.split('.').reduce((a, x) => a * 256 + Number(x), 0);
  const dst = `192.168.${(seed >> 8) & 255}.${seed & 255}`;
  const ip = (v) => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  const flows = new Array(n);
  let src = '';
  let srcBlock = -1;
  for (let i = 0; i < n; i++) {
    const block = Math.floor(i / 60000);
    if (block !== srcBlock) {
      srcBlock = block;
      src = ip(b + block);
    }
    const srcPort = 1024 + (i % 60000);
    flows[i] = i & 1
      ? { protocol: 'tcp', src, dst, srcPort, dstPort: 80, timeout, state: 'ESTABLISHED' }
      : { protocol: 'udp', src, dst, srcPort, dstPort: 53, timeout };
  }
  return flows;
}

/** One `conntrack -R` line (the arguments of `conntrack -I`) for a mixFlows() entry. */
export function conntrackInsertLine(f) {
  const state = f.state ? ` --state ${f.state}` : '';
  return `-I -p ${f.protocol} -s ${f.src} -d ${f.dst} --sport ${f.srcPort} --dport ${f.dstPort}${state} -t ${f.timeout}`;
}

/** Peak RSS (kB) of an idle `node -e 0`: the baseline for node rows (median of 3). */
export async function idleNodeRssKb() {
  const samples = [];
  for (let i = 0; i < 3; i++) {
    samples.push((await timeCommand(null, [process.execPath, '-e', '0'])).rssKb);
  }
  return median(samples);
}

// ---------------------------------------------------------------------------
// Numbers and reporting

/**
 * Runs every runner `repeat` times in turn on namespace `ns` (`runner.run(ns)` gives a sample
 * with entries, seconds and rssKb), logging each; resolves a row per runner: the runner, the
 * medians of entries, seconds, rssKb and of each of `more` (more fields of a sample), and its
 * `samples`.
 */
export async function sampleRunners(ns, runners, repeat, more = []) {
  const samples = Object.fromEntries(runners.map((r) => [r.key, []]));
  for (let rep = 1; rep <= repeat; rep++) {
    for (const runner of runners) {
      const s = await runner.run(ns);
      samples[runner.key].push(s);
      log(
        `  [${rep}/${repeat}] ${runner.key}: ${fmtInt(s.entries)} entries, ${fmtFixed(s.seconds)} s, ${
          fmtInt(s.rssKb)
        } kB`,
      );
    }
  }
  return runners.map((runner) => {
    const ss = samples[runner.key];
    const m = (field) => median(ss.map((s) => s[field]));
    const medians = Object.fromEntries(['entries', 'seconds', 'rssKb', ...more].map((f) => [f, m(f)]));
    return { runner, ...medians, samples: ss };
  });
}

/** Least-squares slope of y over x. */
export function slope(xs, ys) {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

export function median(values) {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid] : (v[mid - 1] + v[mid]) / 2;
}

/** 1234567 -> "1,234,567" */
export function fmtInt(n) {
  return Number.isFinite(n) ? Math.round(n).toLocaleString('en-US') : 'n/a';
}

export function fmtFixed(n, digits = 3) {
  return Number.isFinite(n) ? n.toFixed(digits) : 'n/a';
}

/** Bytes as MiB: 67108864 -> "64 MiB", 1572864 -> "1.50 MiB". */
export function fmtMiB(bytes) {
  const MiB = 1 << 20;
  return `${fmtFixed(bytes / MiB, bytes % MiB ? 2 : 0)} MiB`;
}

/**
 * Formats rows as a markdown table. Either an array of objects (the first
 * row's keys are the header) or an array of arrays whose first row is the
 * header. Columns whose cells all look numeric are right-aligned.
 */
export function table(rows) {
  if (rows.length === 0) return '';
  let header;
  let body;
  if (Array.isArray(rows[0])) {
    [header, ...body] = rows;
  } else {
    header = Object.keys(rows[0]);
    body = rows.map((r) => header.map((k) => r[k]));
  }
  const cell = (v) => (v === undefined || v === null ? '' : String(v).replace(/\|/g, '\\|'));
  const cells = body.map((r) => header.map((_, i) => cell(r[i])));
  const numeric = header.map(
    (_, i) => cells.length > 0 && cells.every((r) => /^[-+]?[0-9][0-9,.]*\s*[×x%]?$|^n\/a$|^$/.test(r[i])),
  );
  const widths = header.map((h, i) => Math.max(3, cell(h).length, ...cells.map((r) => r[i].length)));
  const pad = (s, i) => (numeric[i] ? s.padStart(widths[i]) : s.padEnd(widths[i]));
  const line = (r) => `| ${r.map(pad).join(' | ')} |`;
  const sep = `|${widths.map((w, i) => (numeric[i] ? `${'-'.repeat(w + 1)}:` : `${'-'.repeat(w + 2)}`)).join('|')}|`;
  return [line(header.map(cell)), sep, ...cells.map(line)].join('\n');
}

function cpuModel() {
  const model = cpus()[0]?.model?.trim();
  if (model) return model;
  const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
  return m ? m[1].trim() : 'unknown';
}

/** A description of this machine and run, for the top of a results section. */
export function machineInfo() {
  let nproc = cpus().length;
  try {
    nproc = Number(execFileSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    // keep os.cpus()
  }
  return {
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    kernel: release(),
    cpu: cpuModel(),
    nproc,
    node: process.version,
    unset: UNSET_ENV,
  };
}

/**
 * Writes `## sectionTitle` in bench/RESULTS.md: replaces the section with the
 * same title, keeps every other section, appends when new. The section starts
 * with the date, kernel, CPU model and nproc, then `markdown` (a table, or
 * several tables and notes), then `notes` when given.
 */
export function writeResults(sectionTitle, markdown, notes = '') {
  const m = machineInfo();
  const section = [
    `## ${sectionTitle}`,
    '',
    `- date: ${m.date}`,
    `- kernel: ${m.kernel} (\`uname -r\`)`,
    `- cpu: ${m.cpu}, nproc ${m.nproc}`,
    `- node: ${m.node}`,
    ...(m.unset.length
      ? [
        `- environment: ${
          m.unset.join(', ')
        } unset for the measured commands (node reads it as it starts; see bench/lib/harness.mjs)`,
      ]
      : []),
    '',
    markdown.trim(),
    ...(notes.trim() ? ['', notes.trim()] : []),
    '',
  ].join('\n');

  const preamble = [
    '# Benchmark results',
    '',
    'Written by `npm run bench` (`node bench/index.mjs`); each section belongs to one',
    'benchmark in `bench/` and is replaced when that benchmark runs again. Ratios are',
    'against peers measured on the same machine in the same run.',
    '',
  ].join('\n');

  const text = existsSync(RESULTS_FILE) ? readFileSync(RESULTS_FILE, 'utf8') : preamble;
  // Split into the preamble and "## " sections (a heading starts a line).
  const parts = text.split(/^(?=## )/m);
  const head = parts[0].startsWith('## ') ? preamble : parts[0];
  const sections = parts.filter((p) => p.startsWith('## '));
  const title = (s) => s.slice(3, s.indexOf('\n') === -1 ? undefined : s.indexOf('\n')).trim();
  const i = sections.findIndex((s) => title(s) === sectionTitle.trim());
  if (i === -1) sections.push(section);
  else sections[i] = section;
  const body = sections.map((s) => `${s.trimEnd()}\n`).join('\n');
  writeFileSync(RESULTS_FILE, `${head.trimEnd()}\n\n${body}`);
  log(`wrote section "${sectionTitle}" to ${RESULTS_FILE}`);
}

/**
 * A bash kept running inside a test namespace: it runs commands there (send a packet, read a
 * sysctl, list rules) even after the namespace's name is deleted, and holds the namespace
 * alive meanwhile. For tests of what happens to handles and streams when the name goes away.
 */
import type { Netns } from './netns-core.js';
import { BOUND_MS, WaitTimeout } from './sentinel.js';

export interface InsideShell {
  /** Runs a bash command inside the namespace; resolves its stdout, rejects when it exits non-zero. */
  run(command: string): Promise<string>;
  /** Ends the shell (the namespace is freed once nothing else holds it). */
  close(): Promise<void>;
}

export async function shellInside(ns: Netns): Promise<InsideShell> {
  const child = ns.spawn('bash', ['--noprofile', '--norc'], { stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  let wake: (() => void) | undefined;
  child.stdout!.setEncoding('utf8');
  child.stderr!.setEncoding('utf8');
  child.stdout!.on('data', (d: string) => {
    out += d;
    wake?.();
  });
  child.stderr!.on('data', (d: string) => (err += d));
  child.on('exit', () => wake?.());
  let queue: Promise<unknown> = Promise.resolve();
  let n = 0;
  const runOne = async (command: string): Promise<string> => {
    const mark = `__nfct_inside_${n++}__`;
    out = '';
    err = '';
    child.stdin!.write(`${command}\necho "${mark}$?"\n`);
    const re = new RegExp(`${mark}(\\d+)\\n`);
    const deadline = Date.now() + BOUND_MS;
    for (;;) {
      const m = re.exec(out);
      if (m) {
        const text = out.slice(0, m.index);
        if (m[1] !== '0') throw new Error(`inside ${ns.name}: ${command} exited with ${m[1]}: ${err.trim()}`);
        return text;
      }
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`inside ${ns.name}: the shell ended (${err.trim()})`);
      }
      if (Date.now() > deadline) throw new WaitTimeout(`${command} inside ${ns.name}`, BOUND_MS, err);
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 50);
      });
    }
  };
  const shell: InsideShell = {
    run(command) {
      const p = queue.then(() => runOne(command));
      queue = p.catch(() => undefined);
      return p;
    },
    async close() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.stdin!.end();
      await exited;
    },
  };
  await shell.run('true');
  return shell;
}

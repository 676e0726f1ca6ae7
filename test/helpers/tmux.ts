/**
 * A private tmux server for the tests of a file that drive a full-screen command in a real
 * terminal: nothing of anyone else's is touched, and killing the server (in afterAll, also when
 * tests fail) ends everything it ran. Call at module level.
 */
import { execFile } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

import { afterAll } from 'vitest';

const run = promisify(execFile);

export interface Tmux {
  /** Runs `tmux -L <this server's socket> ...args`. */
  tmux(...args: string[]): Promise<{ stdout: string; stderr: string }>;
  /** The text of pane `target` once `ready` holds for it (polled every 100 ms, 15 s at most). */
  paneWhen(ready: (text: string) => boolean, target?: string): Promise<string>;
}

export function useTmux(name: string): Tmux {
  const socket = `${name}-${process.pid}`;
  const tmux = (...args: string[]) => run('tmux', ['-L', socket, ...args]);
  afterAll(async () => {
    await tmux('kill-server').catch(() => {});
  });
  return {
    tmux,
    async paneWhen(ready, target = 'top') {
      let text = '';
      for (let i = 0; i < 150; i++) {
        text = (await tmux('capture-pane', '-p', '-t', target)).stdout;
        if (ready(text)) return text;
        await sleep(100);
      }
      throw new Error(`the pane never showed what was expected:\n${text}`);
    },
  };
}

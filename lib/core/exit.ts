// What the modules that change kernel state need to put it back however the process ends:
// whether another process (a holder of the same state) still lives, and a clean-up that runs
// at process exit.

/** Whether a process of that pid exists (in this process's pid namespace). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * A function that registers `restore` to run at process exit the first time it is called (later
 * calls do nothing). `restore` must be synchronous: nothing asynchronous runs at exit.
 */
export function restoreAtExit(restore: () => void): () => void {
  let registered = false;
  return () => {
    if (registered) return;
    registered = true;
    process.on('exit', restore);
  };
}

// Preloaded (NODE_OPTIONS=--require) into every node child of a test while Stryker runs: at
// exit, what the child's instrumented code executed is written for test/mutation/setup.ts.
'use strict';
const dir = process.env.NFCT_MUTATION_COVERAGE_DIR;
if (dir && process.env.__STRYKER_ACTIVE_MUTANT__ === undefined) {
  const write = () => {
    const cov = globalThis.__stryker__ && globalThis.__stryker__.mutantCoverage;
    if (!cov) return;
    const hits = { ...cov.static };
    for (const t of Object.values(cov.perTest)) for (const [id, n] of Object.entries(t)) hits[id] = (hits[id] || 0) + n;
    if (Object.keys(hits).length === 0) return;
    const fs = require('node:fs');
    const name = `${process.pid}-${Date.now()}`;
    try {
      fs.writeFileSync(`${dir}/${name}.tmp`, JSON.stringify({ test: process.env.NFCT_MUTATION_TEST, hits }));
      fs.renameSync(`${dir}/${name}.tmp`, `${dir}/${name}.json`);
    } catch {
      // another user's child, or the directory is gone: its coverage is left out
    }
  };
  process.on('exit', write);
  // A process that ends by its own signal (nfct dies by the SIGTERM it was sent, as conntrack
  // does) never reaches 'exit': what it ran is written just before.
  const kill = process.kill.bind(process);
  process.kill = (pid, signal) => {
    // (one that survives its signal writes again at exit: hits add up, only their presence counts)
    if (pid === process.pid || pid === 0) write();
    return kill(pid, signal);
  };
}

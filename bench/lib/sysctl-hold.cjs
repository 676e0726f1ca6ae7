/**
 * Global sysctls a test needs changed for its run (net.netfilter.nf_log_all_netns: LOG lines of
 * a namespace other than the initial one reach the kernel log only when it is 1), shared by
 * every process on the machine that holds them: the first holder saves the value found and sets
 * the new one, the last one to let go puts the saved value back. Holders are files named by pid
 * under /run/nfct-test-holds/<name>/, changed under an flock; a holder whose process is gone no
 * longer counts, so a run killed outright is undone by the next one to let go (or by
 * `releaseStaleHolds`, which the tests' global setup runs). Shared by the tests
 * (test/helpers/sysctl-hold.ts) and the benchmarks.
 */
'use strict';
const { execFileSync } = require('node:child_process');

const ROOT = '/run/nfct-test-holds';
const LOCK = `${ROOT}.lock`;

/** The shell that runs under the lock: $1 sysctl file, $2 holds directory, $3 value, $4 pid, $5 verb. */
const SCRIPT = `
set -e
file=$1 dir=$2 value=$3 pid=$4 verb=$5
mkdir -p "$dir"
for f in "$dir"/[0-9]*; do
  [ -e "$f" ] || continue
  p=\${f##*/}
  kill -0 "$p" 2>/dev/null || rm -f "$f"
done
live=$(ls "$dir" | grep -v '^orig$' || true)
case $verb in
hold)
  if [ -z "$live" ] && [ ! -e "$dir/orig" ]; then cat "$file" > "$dir/orig"; fi
  printf '%s' "$value" > "$file"
  : > "$dir/$pid"
  ;;
release)
  rm -f "$dir/$pid"
  live=$(ls "$dir" | grep -v '^orig$' || true)
  if [ -z "$live" ] && [ -e "$dir/orig" ]; then cat "$dir/orig" > "$file"; rm -f "$dir/orig"; fi
  ;;
esac
`;

function run(sysctl, value, verb) {
  const file = `/proc/sys/${sysctl.replaceAll('.', '/')}`;
  execFileSync('flock', [LOCK, 'sh', '-c', SCRIPT, 'sh', file, `${ROOT}/${sysctl}`, value, String(process.pid), verb], { stdio: 'pipe' });
}

/**
 * Sets `sysctl` (dotted name) to `value` while held; resolves the release, which puts the value
 * found by the first holder back once no process holds it any more.
 */
function holdSysctl(sysctl, value) {
  run(sysctl, value, 'hold');
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    process.off('exit', release);
    run(sysctl, value, 'release');
  };
  process.on('exit', release);
  return release;
}

/** Puts back the values of holds whose processes are all gone. */
function releaseStaleHolds(sysctls) {
  for (const s of sysctls) {
    try {
      run(s, '', 'release');
    } catch {
      // not there on this kernel
    }
  }
}

module.exports = { holdSysctl, releaseStaleHolds };

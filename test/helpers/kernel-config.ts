// The running kernel's build configuration, where a test's expectation depends on it: read
// from /proc/config.gz or /boot/config-<release>. A kernel that publishes neither fails the
// test that asks (it cannot know what to expect), rather than letting it pass either way.
import { existsSync, readFileSync } from 'node:fs';
import { release } from 'node:os';
import { gunzipSync } from 'node:zlib';

let text: string | undefined;

function configText(): string {
  if (text !== undefined) return text;
  const boot = `/boot/config-${release()}`;
  if (existsSync('/proc/config.gz')) text = gunzipSync(readFileSync('/proc/config.gz')).toString('latin1');
  else if (existsSync(boot)) text = readFileSync(boot, 'latin1');
  else {
    throw new Error(
      `the kernel's configuration is in neither /proc/config.gz nor ${boot}: load the configs module (modprobe configs) so the test knows what this kernel supports`,
    );
  }
  return text;
}

/** The value of CONFIG_X (`y`, `m`, a number or a string), or undefined when it is not set. */
export function kernelConfig(name: `CONFIG_${string}`): string | undefined {
  for (const line of configText().split('\n')) {
    if (line.startsWith(`${name}=`)) return line.slice(name.length + 1);
  }
  return undefined;
}

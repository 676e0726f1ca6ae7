// Run by any node (the host's x64 one, or the arm64 one under qemu-user) from a project that
// installed the packed tarball: decodes the kernel's ctnetlink messages that capture.py saved,
// with the addon's own decoder and -L formatter (native code of the binary node-gyp-build
// picked), and prints one conntrack -L line per message.
//   node decode.mjs FILE...
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const root = require.resolve('@x/nfct/package.json').replace(/\/package\.json$/, '');
console.log(`binary: ${require('node-gyp-build').path(root).slice(root.length + 1)}`);
const { addon } = require(`${root}/dist/core/native.js`);
for (const file of process.argv.slice(2)) {
  const data = readFileSync(file);
  for (let off = 0; off + 16 <= data.length;) {
    const len = data.readUInt32LE(off);
    const [buffer, strings, count, malformed] = addon.decodeForTest('flow', data.subarray(off, off + len));
    if (malformed) throw new Error(`${file}: a malformed message at byte ${off}`);
    if (count) {
      process.stdout.write(
        addon.formatFlows(buffer, strings, count, { extended: false, id: false }).toString('latin1'),
      );
    }
    off += (len + 3) & ~3;
  }
}

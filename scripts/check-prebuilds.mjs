// Run by `npm pack` and `npm publish` (prepack): refuses to pack without both prebuilt binaries
// and the netfilter libraries bundled beside each (scripts/release/prebuilds.sh makes them), so
// that a package published from a plain clone cannot ship without a binary and compile on every
// install. NFCT_PACK_SOURCE_ONLY=1 packs whatever prebuilds/ holds (nothing, or one local
// build): a package that compiles the addon where no binary fits.
import { closeSync, existsSync, openSync, readdirSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const prebuilds = join(root, 'prebuilds');
/** ELF e_machine of each platform's files. */
const PLATFORMS = { 'linux-x64': 62, 'linux-arm64': 183 };
const BINARY = '@x+nfct.glibc.node';
const LIBRARIES = ['libnetfilter_conntrack.so.3', 'libnetfilter_log.so.1', 'libnfnetlink.so.0', 'libmnl.so.0'];

/** The ELF machine of a 64-bit little-endian shared object, or why it is not one. */
function machine(file) {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(20);
    if (readSync(fd, head, 0, 20, 0) < 20 || head.readUInt32BE(0) !== 0x7f454c46) return 'not an ELF file';
    if (head[4] !== 2 || head[5] !== 1) return 'not a 64-bit little-endian ELF file';
    if (head.readUInt16LE(16) !== 3) return 'not a shared object';
    return head.readUInt16LE(18);
  } finally {
    closeSync(fd);
  }
}

const problems = [];
for (const [platform, want] of Object.entries(PLATFORMS)) {
  for (const name of [BINARY, ...LIBRARIES]) {
    const file = join(prebuilds, platform, name);
    if (!existsSync(file)) {
      problems.push(`prebuilds/${platform}/${name} is missing`);
      continue;
    }
    const got = machine(file);
    if (got !== want) {
      problems.push(
        `prebuilds/${platform}/${name}: ${typeof got === 'number' ? `ELF machine ${got}, not ${want}` : got}`,
      );
    }
  }
}
const sources = join(prebuilds, 'sources');
if (!existsSync(sources) || !readdirSync(sources).some((f) => f.endsWith('.dsc'))) {
  problems.push("prebuilds/sources/ holds no .dsc (the bundled libraries' sources)");
}

if (process.env.NFCT_PACK_SOURCE_ONLY === '1') {
  if (problems.length) {
    console.error(
      `check-prebuilds: NFCT_PACK_SOURCE_ONLY=1: packing without the release binaries (${problems.length} missing or wrong); installs compile the addon where no binary fits`,
    );
  } else console.error('check-prebuilds: NFCT_PACK_SOURCE_ONLY=1, but both release binaries are there and are packed');
  process.exit(0);
}
if (problems.length) {
  for (const p of problems) console.error(`check-prebuilds: ${p}`);
  console.error(
    'check-prebuilds: refusing to pack. Make the binaries first (as root): npm run release:prebuilds. To pack a package without them, which compiles the addon on install, set NFCT_PACK_SOURCE_ONLY=1.',
  );
  process.exit(1);
}
console.error(`check-prebuilds: linux-x64 and linux-arm64 binaries, each with ${LIBRARIES.length} bundled libraries`);

// Writes dist/index.mjs: the ES module entry, re-exporting the CommonJS build's named exports
// so `import { Conntrack } from '@x/nfct'` and `require('@x/nfct')` load the same code; and
// dist/index.d.mts, its declarations, so that TypeScript under node16/nodenext resolution sees
// an ES module (named exports and a default) where the import condition leads.
import { writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const require = createRequire(dist);
const names = Object.keys(require('./index.js')).filter((n) => n !== 'default' && n !== '__esModule');
const body = [
  "import cjs from './index.js';",
  ...names.map((n) => `export const ${n} = cjs.${n};`),
  'export default cjs;',
  '',
].join('\n');
writeFileSync(`${dist}index.mjs`, body);
writeFileSync(
  `${dist}index.d.mts`,
  ["export * from './index.js';", "import * as nfct from './index.js';", 'export default nfct;', ''].join('\n'),
);

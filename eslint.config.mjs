// ESLint: the TypeScript of lib/ and test/ checked with type information against
// typescript-eslint's strict and stylistic rules; the JavaScript of bench/, scripts/, examples/
// and test/ helpers against the recommended rules. Layout is the formatters' business
// (npm run format), not ESLint's. `npm run lint` runs it with the formatters' checks.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/', 'build/', 'build-memcheck/', 'prebuilds/', 'docs/api/', 'bench/c/out/', 'lib/core/layout.ts', 'test/fixtures/'],
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [...tseslint.configs.strictTypeChecked, ...tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: { projectService: { allowDefaultProject: ['vitest.config.mts'] }, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // tsconfig has noUncheckedIndexedAccess: an index the code has proven in range (the words
      // of a record, a batch's counters) is asserted with `!` where it is read.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers and booleans in messages are what a message is made of.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
  },
);

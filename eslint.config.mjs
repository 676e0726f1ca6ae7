// ESLint: the TypeScript of lib/ and test/ checked with type information against
// typescript-eslint's strict and stylistic rules; the JavaScript of bench/, scripts/, examples/
// and test/ helpers against the recommended rules. Layout is the formatters' business
// (npm run format), not ESLint's. `npm run lint` runs it with the formatters' checks.
// Findings the code had when the rules came are listed in eslint-suppressions.json (ESLint's
// bulk suppressions, counted per file and rule): they do not fail the lint, any new one does.
// `bash scripts/tidy.sh` applies the fixable ones and prunes the list.
import js from '@eslint/js';
import globals from 'globals';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: ['dist/', 'build/', '.stryker-tmp/', 'reports/', 'build-memcheck/', 'prebuilds/', 'docs/api/',
      'bench/c/out/', 'lib/core/layout.ts', 'test/fixtures/'],
  },
  {
    files: ['**/*.ts', '**/*.mts'],
    extends: [...tseslint.configs.strictTypeChecked, ...tseslint.configs.stylisticTypeChecked],
    languageOptions: {
      parserOptions: {
        projectService: {
          allowDefaultProject: ['vitest.config.mts', 'vitest.release.config.mts', 'test/types/consumer.mts'],
        },
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // tsconfig has noUncheckedIndexedAccess: an index the code has proven in range (the words
      // of a record, a batch's counters) is asserted with `!` where it is read.
      '@typescript-eslint/no-non-null-assertion': 'off',
      // Numbers and booleans in messages are what a message is made of.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // The library checks at run time what its types already say (an option's type, a state
      // another callback changed), for callers in JavaScript and for the order of events: the
      // rule calls every such check unnecessary.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // For the same reason: `seq !== false` after the valid values refuses null and 0; the
      // rule's fix, `seq`, lets them through.
      '@typescript-eslint/no-unnecessary-boolean-literal-compare': 'off',
      // callSite(this.method) hands a method over as the anchor of an error's stack, never to
      // be called.
      '@typescript-eslint/unbound-method': 'off',
      // A method is async so that whatever it throws reaches the caller as a rejection, and so
      // that it matches its interface (Symbol.asyncDispose, an iterator's return()).
      '@typescript-eslint/require-await': 'off',
      // `(d) => (text += d)`: a one-expression callback that assigns reads as what it does.
      '@typescript-eslint/no-confusing-void-expression': ['error', { ignoreArrowShorthand: true }],
      // `void x;` reads a value on purpose (a getter that loads the addon, a loop variable); the
      // rule's fix leaves a bare `x;`, which no-unused-expressions then flags.
      '@typescript-eslint/no-meaningless-void-operator': 'off',
      // `const { type: _type, ...fields } = o` copies an object without some keys: what the rest
      // leaves out is named, never used.
      '@typescript-eslint/no-unused-vars': ['error', { ignoreRestSiblings: true }],
      // Passing on a caught value (unknown) as a rejection is what rethrowing it is, which
      // only-throw-error allows: what is refused is rejecting with a value that is no error.
      '@typescript-eslint/prefer-promise-reject-errors': ['error', { allowThrowingUnknown: true }],
    },
  },
  {
    files: ['lib/**/*.ts'],
    rules: {
      // The library still offers the forms it deprecated (until they are removed): it declares,
      // exports and implements them, which is no use of them.
      '@typescript-eslint/no-deprecated': ['error', {
        allow: [{ from: 'file',
          name: ['LegacyAggregateKey', 'LegacyAggregateOptions', 'aggregate', 'deleteEach', 'deleteWhere',
            'updateWhere'] }],
      }],
      // A deprecated overload is kept apart from the current one so that only it carries the
      // @deprecated tag (editors strike out only the old call).
      '@typescript-eslint/unified-signatures': ['error', { ignoreOverloadsWithDifferentJSDoc: true }],
    },
  },
  {
    files: ['test/**/*.ts', 'test/**/*.mts'],
    rules: {
      // Tests read what the CLI printed (JSON.parse) and assert its shape: the value is any
      // until the assertion says what it is.
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-call': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-return': 'off',
      // A callback that does nothing is what many tests pass.
      '@typescript-eslint/no-empty-function': 'off',
      // `for await (const _ of stream)` drains a stream; `{ time: _t, ...rest }` drops a field.
      '@typescript-eslint/no-unused-vars': ['error', { varsIgnorePattern: '^_', ignoreRestSiblings: true }],
    },
  },
  {
    files: ['**/*.mjs', '**/*.cjs', '**/*.js'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node } },
  },
  {
    // As for the tests in TypeScript: `for await (const _ of stream)` drains a stream.
    files: ['test/**/*.mjs', 'test/**/*.cjs'],
    rules: { 'no-unused-vars': ['error', { varsIgnorePattern: '^_' }] },
  },
);

// ESLint (flat config) with typescript-eslint's type-checked rules: floating promises and
// misused async callbacks are the bugs a server like this cannot afford.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import globals from 'globals';

export default tseslint.config(
  { ignores: ['dist/', 'packages/*/dist/', '.build-*/', 'node_modules/', 'data/', 'bench/results/', 'eslint.config.js'] },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: { ...globals.node },
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // node:test's test() and describe() return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            { from: 'package', package: 'node:test', name: ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'] },
          ],
        },
      ],
    },
  },
  // The web pages run in browsers.
  { files: ['web/**'], languageOptions: { globals: { ...globals.browser } } },
  // Plain JavaScript launchers (scripts/*.mjs) run before anything is built: no type information.
  { files: ['**/*.mjs'], extends: [tseslint.configs.disableTypeChecked] },
);

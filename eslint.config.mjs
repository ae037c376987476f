import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', 'docs/**', '.tmp/**', '.sandbox/**'] },
  js.configs.recommended,
  ...tseslint.configs.strict,
  {
    languageOptions: {
      globals: {
        process: 'readonly',
        console: 'readonly',
        Buffer: 'readonly',
        module: 'readonly',
        require: 'readonly',
        __dirname: 'readonly',
        setTimeout: 'readonly',
        clearTimeout: 'readonly',
        setInterval: 'readonly',
        clearInterval: 'readonly',
        setImmediate: 'readonly',
        URL: 'readonly',
        AbortController: 'readonly',
        AbortSignal: 'readonly',
        TextEncoder: 'readonly',
        TextDecoder: 'readonly',
      },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  { files: ['**/*.ts'], rules: { 'no-undef': 'off' } },
  // Type-aware rules (issue 12). tsconfig.jest.json is the one program holding every .ts file: the package
  // tsconfigs hold src only and test/tsconfig.json leaves out *.test.ts, so `projectService` would find no
  // project for the unit and integration tests. Only the rules of strictTypeChecked whose findings are real
  // problems: the promise rules, and a few that catch bugs and have no finding today.
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: { project: './tsconfig.jest.json', tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // `void p` alone does not pass: the promise must be awaited, handled (.catch, .then with a rejection
      // handler), or carry an eslint-disable saying why it cannot reject. An unhandled rejection exits the proxy.
      '@typescript-eslint/no-floating-promises': ['error', { ignoreVoid: false }],
      '@typescript-eslint/no-misused-promises': 'error',
      // `Promise.allSettled([a?.stop(), b?.stop()])`, an absent service giving undefined, is fine.
      '@typescript-eslint/await-thenable': ['error', { allowMixedPromiseArrays: true }],
      // `return promise` without await inside try/catch/finally: the catch never sees its rejection.
      '@typescript-eslint/return-await': ['error', 'error-handling-correctness-only'],
      '@typescript-eslint/prefer-promise-reject-errors': 'error',
      '@typescript-eslint/no-base-to-string': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/no-array-delete': 'error',
    },
  },
  {
    files: ['**/*.test.ts', 'test/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // These run as compiled programs from test/dist, where proxy/src does not exist: the built package only.
    files: ['test/bench/**/*.ts', 'test/soak/**/*.ts', 'test/sandbox/**/*.ts'],
    ignores: ['**/*.test.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/proxy/src/**', '**/webhook/src/**'],
              message: 'import @k8s-s3-mirror/*/dist/… (this runs from test/dist)',
            },
          ],
        },
      ],
    },
  },
);

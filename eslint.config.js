// ESLint flat config: type-aware typescript-eslint (strictTypeChecked). no-floating-promises
// matters most here: stores, servers and informers are all callback- and promise-driven.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

/**
 * Import boundaries (ARCHITECTURE.md). The verification core decides verdicts from bytes and
 * configuration and knows nothing of how it is served: it may not import the service (the
 * Kubernetes client, the controller, the trust adapter, HTTP, observability, the CLI, the
 * composition root) nor test and walkthrough material. test/unit/architecture.test.ts proves
 * these rules fire and checks the folder graph has no cycles.
 */
export const CORE_FOLDERS = [
  'gpg',
  'image',
  'json',
  'mirrors',
  'payload',
  'policy',
  'registry',
  'sigstore',
  'stores',
  'verify',
];
const SERVICE_IMPORT = {
  regex: String.raw`(^|/)(kube|controller|trust|http|observability|cli|config|testbed|walkthrough)/|(^|/)main\.js$`,
  message:
    'The verification core (gpg, sigstore, policy, image, registry, stores, verify, payload, mirrors, json) must not import the service, test or walkthrough material: see ARCHITECTURE.md.',
};
/** The controller sees verification only through its port (controller/verification-port.ts). */
const CONTROLLER_IMPORT = {
  regex: String.raw`(^|/)(gpg|sigstore|policy|registry|stores|verify|payload|mirrors|trust|http|cli|testbed|walkthrough)/|(^|/)main\.js$`,
  message:
    'The controller depends on its ReleaseVerifierPort, not on verification code, HTTP or the CLI: see ARCHITECTURE.md.',
};
/** Shipped code (src/) never imports test or walkthrough material. */
const TEST_MATERIAL_IMPORT = {
  regex: String.raw`(^|/)(testbed|walkthrough|test|bench)/`,
  message: 'src/ ships in the image: it must not import testbed/, walkthrough/, test/ or bench/.',
};

export default tseslint.config(
  { ignores: ['dist/', 'node_modules/', '.tools/', '.cache/', 'eslint.config.js'] },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true }],
      '@typescript-eslint/no-unnecessary-condition': [
        'error',
        { allowConstantLoopConditions: true },
      ],
      '@typescript-eslint/consistent-type-imports': 'error',
      // Express tells error handlers by their four parameters, used or not.
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  {
    files: ['test/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-confusing-void-expression': 'off',
      // node:assert's assertion functions narrow types, which makes optional chains after them look
      // unnecessary; tests keep them for readable failure messages.
      '@typescript-eslint/no-unnecessary-condition': 'off',
      // node:test's describe/it return promises the runner itself awaits.
      '@typescript-eslint/no-floating-promises': [
        'error',
        {
          allowForKnownSafeCalls: [
            {
              from: 'package',
              package: 'node:test',
              name: [
                'describe',
                'it',
                'test',
                'suite',
                'before',
                'after',
                'beforeEach',
                'afterEach',
              ],
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/**/*.ts'],
    rules: { 'no-restricted-imports': ['error', { patterns: [TEST_MATERIAL_IMPORT] }] },
  },
  {
    files: ['src/controller/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [CONTROLLER_IMPORT, TEST_MATERIAL_IMPORT] }],
    },
  },
  {
    files: [...CORE_FOLDERS.map((f) => `src/${f}/**/*.ts`), 'src/errors.ts'],
    rules: {
      'no-restricted-imports': ['error', { patterns: [SERVICE_IMPORT, TEST_MATERIAL_IMPORT] }],
    },
  },
);

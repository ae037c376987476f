/** Unit tests are pure and fast; integration tests start real services (Postgres, Ceph RGW). */
const tsJest = ['ts-jest', { tsconfig: '<rootDir>/tsconfig.jest.json', isolatedModules: true }];

/** @type {import('jest').Config} */
module.exports = {
  projects: [
    {
      displayName: 'unit',
      testMatch: [
        '<rootDir>/proxy/test/**/*.test.ts',
        '<rootDir>/webhook/test/**/*.test.ts',
        // The benchmark's pure statistics and chart code.
        '<rootDir>/test/bench/**/*.test.ts',
        // The client matrix's pure comparison and rendering.
        '<rootDir>/test/clients/**/*.test.ts',
        // The harness's own pure checks (the signature audit).
        '<rootDir>/test/harness/**/*.test.ts',
        // Which settings the sandbox hands to its proxy.
        '<rootDir>/test/sandbox/**/*.test.ts',
      ],
      transform: { '^.+\\.ts$': tsJest },
      testEnvironment: 'node',
    },
    {
      displayName: 'integration',
      testMatch: ['<rootDir>/test/integration/**/*.test.ts'],
      transform: { '^.+\\.ts$': tsJest },
      testEnvironment: 'node',
      globalSetup: '<rootDir>/test/harness/jest-global-setup.ts',
      globalTeardown: '<rootDir>/test/harness/jest-global-teardown.ts',
      // `testTimeout` is a global option that Jest ignores inside `projects`; this file sets it to 300 s.
      setupFilesAfterEnv: ['<rootDir>/test/harness/jest-setup-after-env.ts'],
    },
  ],
};

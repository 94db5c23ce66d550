// ESM + swc: ts-jest refuses TypeScript 7 (FINDINGS.md), @swc/jest only strips types.
/** @type {import('jest').Config} */
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2022' },
      module: { type: 'es6' },
    }],
  },
  moduleNameMapper: {
    '^@mesh/shared/testing$': '<rootDir>/libs/shared/src/testing/index.ts',
    '^@mesh/(shared|sigmesh)$': '<rootDir>/libs/$1/src/index.ts',
    '^@mesh/(api|rooms|dht|turn)$': '<rootDir>/services/$1/src/index.ts',
    '^@mesh/embedded$': '<rootDir>/apps/embedded/src/index.ts',
    '^(\\.{1,2}/.*)\\.js$': '$1',
  },
  testMatch: ['<rootDir>/{libs,services,apps}/*/test/**/*.test.ts', '<rootDir>/test/**/*.test.ts'],
  testTimeout: 30000,
};

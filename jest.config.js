// Jest in ESM mode; TypeScript is transformed by swc (types are checked by `tsc --noEmit`).
export default {
  testEnvironment: 'node',
  extensionsToTreatAsEsm: ['.ts'],
  transform: {
    '^.+\\.ts$': ['@swc/jest', {
      jsc: { parser: { syntax: 'typescript' }, target: 'es2024', experimental: { keepImportAttributes: true } },
      module: { type: 'es6' }
    }]
  },
  testMatch: ['<rootDir>/test/**/*.test.ts'],
  // The packages' built dist/ folders (npm run build:sdk) hold package.json files of the same names.
  modulePathIgnorePatterns: ['<rootDir>/(?!node_modules/)([^/]+/)*dist/'],
  // Hooks start whole nodes; on 2 shared cores under two test workers that can take ~20 s.
  testTimeout: 120000,
  maxWorkers: 2
}

// Prints the plain closing line CI reads: "jest: N passed, N failed", summed over the
// result files given (make test writes one per jest run).
import { readFileSync } from 'node:fs';

const files = process.argv.length > 2 ? process.argv.slice(2) : ['.jest-results.json'];
let passed = 0;
let failed = 0;
for (const f of files) {
  const r = JSON.parse(readFileSync(f, 'utf8'));
  passed += r.numPassedTests;
  failed += r.numFailedTests;
}
console.log(`jest: ${passed} passed, ${failed} failed`);

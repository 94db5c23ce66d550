// Prints the plain closing line CI reads: "jest: N passed, N failed".
import { readFileSync } from 'node:fs';

const r = JSON.parse(readFileSync(process.argv[2] ?? '.jest-results.json', 'utf8'));
console.log(`jest: ${r.numPassedTests} passed, ${r.numFailedTests} failed`);

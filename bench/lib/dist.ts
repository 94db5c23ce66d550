import { join } from 'node:path';
import { ROOT } from './paths.js';

/** Where `npx tsc -b bench` puts the compiled benchmarks. */
export const BENCH_DIST = join(ROOT, 'bench', 'dist');

import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

// A plain Node script whose only pending work is a solve (no server, no timer) must
// see it through: the workers keep the process alive until they are ready and while
// they search. Runs the built library (make test builds before testing).
const DIST = fileURLToPath(new URL('../dist/index.js', import.meta.url));

describe('the solver in a plain Node process', () => {
  test('a solve with worker_threads finishes and the process exits on its own', () => {
    const script = `
      import { createSolver } from ${JSON.stringify(DIST)};
      const solver = createSolver({ workers: 2 });
      const nonce = await solver.solve({ token: 't', work: 4096, method: 'POST', path: '/room/ab', body: 'x' });
      console.log(JSON.stringify({ mode: solver.mode(), nonce: typeof nonce }));
      solver.close();
    `;
    // Without the test runner's NODE_OPTIONS (its VM-modules flag is not what users run).
    const env = { PATH: process.env['PATH'] ?? '/usr/bin:/bin' };
    // A file, as users run it (workers inherit `-e`'s flags, which break them).
    const dir = mkdtempSync(join(tmpdir(), 'solver-process-'));
    const file = join(dir, 'solve.mjs');
    writeFileSync(file, script);
    const r = spawnSync(process.execPath, [file], { encoding: 'utf8', timeout: 20_000, env });
    rmSync(dir, { recursive: true, force: true });
    expect({ status: r.status, out: r.stdout.trim(), err: r.stderr.trim() })
      .toEqual({ status: 0, out: JSON.stringify({ mode: 'workers', nonce: 'string' }), err: '' });
  });
});

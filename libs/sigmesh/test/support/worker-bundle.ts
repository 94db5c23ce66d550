// Node cannot run the TypeScript worker entry directly: bundle it once per test file.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { build } from 'esbuild';

export interface WorkerBundle {
  url: URL;
  dispose(): void;
}

export async function bundleSolverWorker(): Promise<WorkerBundle> {
  const dir = mkdtempSync(join(tmpdir(), 'sigmesh-worker-'));
  const entry = fileURLToPath(new URL('../../src/solver-worker.ts', import.meta.url));
  const outfile = join(dir, 'solver-worker.mjs');
  await build({ entryPoints: [entry], bundle: true, format: 'esm', platform: 'node', outfile, logLevel: 'silent' });
  return { url: pathToFileURL(outfile), dispose: () => rmSync(dir, { recursive: true, force: true }) };
}

// Browser bundles for the demo page and for pages that load sigmesh without a bundler:
// dist/browser/{sigmesh.js, solver-worker.js, demo.js, index.html}.
import { build } from 'esbuild';
import { copyFile, mkdir } from 'node:fs/promises';

const root = new URL('..', import.meta.url);
const out = new URL('dist/browser/', root);
await mkdir(out, { recursive: true });
const common = {
  bundle: true, format: 'esm', platform: 'browser', target: 'es2022', sourcemap: true,
  // Reached only in Node (solver.ts / solver-worker.ts check first); never loaded by browsers.
  external: ['node:worker_threads'],
  logLevel: 'warning',
};
await build({
  ...common,
  entryPoints: {
    sigmesh: new URL('src/index.ts', root).pathname,
    'solver-worker': new URL('src/solver-worker.ts', root).pathname,
    demo: new URL('demo/demo.ts', root).pathname,
  },
  outdir: out.pathname,
});
await copyFile(new URL('demo/index.html', root), new URL('index.html', out));
console.log('built', out.pathname);

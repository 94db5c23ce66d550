/**
 * sigmesh solver benchmark: SHA-256 attempts per second of the client's PoW search,
 * in Node (one thread in-process, and the worker_threads solver) and in Chromium
 * (the Web Worker solver and one thread on the page), from the browser bundle.
 * Prints a table and one JSON line. `--quick` shortens every measurement.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { PowSearch, createSolver } from '@mesh/sigmesh';

const quick = process.argv.includes('--quick');
const seconds = quick ? 0.5 : 3;
const WORKERS = 2;
const UNREACHABLE = '1000000000000000000'; // no nonce will do: measures raw speed
const PREFIX = `v1.1764000000.abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG:${UNREACHABLE}:POST:/room/${'ab'.repeat(32)}:${'cd'.repeat(32)}:`;

interface Row { name: string; hashesPerSecond: number }
const rows: Row[] = [];

function nodeOneThread(): number {
  const s = new PowSearch(PREFIX, UNREACHABLE, 'A'.repeat(24));
  s.run(1 << 16); // warm up the JIT
  const start = performance.now();
  const tried0 = s.tried;
  while (performance.now() - start < seconds * 1000) s.run(1 << 16);
  return (s.tried - tried0) / ((performance.now() - start) / 1000);
}

async function nodeWorkers(): Promise<number> {
  const solver = createSolver({ workers: WORKERS });
  let tried = 0;
  const start = performance.now();
  await solver.solve({ token: 't', work: UNREACHABLE, method: 'POST', path: '/room/ab', body: 'x' },
    { signal: AbortSignal.timeout(seconds * 1000), onProgress: (p) => { tried = p.tried; } }).catch(() => undefined);
  const hps = tried / ((performance.now() - start) / 1000);
  solver.close();
  return hps;
}

async function chromium(): Promise<{ workers: number; page: number } | null> {
  const exe = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
  if (!exe) return null;
  // Paths from the repository root (bench/run.sh runs there).
  const browserDir = resolve('libs/sigmesh/dist/browser') + '/';
  execFileSync(process.execPath, [resolve('libs/sigmesh/scripts/build-browser.mjs')], { stdio: 'ignore' });
  const server = createServer((req, res) => {
    const name = (req.url ?? '/').replace(/^\/+/, '') || 'index.html';
    if (!/^[a-z-]+\.(js|html)$/.test(name) || !existsSync(browserDir + name)) { res.writeHead(404).end(); return; }
    res.writeHead(200, { 'Content-Type': name.endsWith('.js') ? 'text/javascript' : 'text/html' });
    res.end(readFileSync(browserDir + name));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const { chromium: launcher } = await import('playwright-core');
  const browser = await launcher.launch({ executablePath: exe, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage();
    await page.goto(origin + '/index.html');
    return await page.evaluate(async ({ seconds, workers, prefix, work, bundle }) => {
      const lib = (await import(bundle)) as typeof import('@mesh/sigmesh');
      const solver = lib.createSolver({ workers, workerUrl: '/solver-worker.js' });
      let tried = 0;
      let start = performance.now();
      await solver.solve({ token: 't', work, method: 'POST', path: '/room/ab', body: 'x' },
        { signal: AbortSignal.timeout(seconds * 1000), onProgress: (p) => { tried = p.tried; } }).catch(() => undefined);
      const w = tried / ((performance.now() - start) / 1000);
      solver.close();
      const s = new lib.PowSearch(prefix, work, 'A'.repeat(24));
      s.run(1 << 16);
      start = performance.now();
      const t0 = s.tried;
      while (performance.now() - start < seconds * 1000) s.run(1 << 16);
      return { workers: w, page: (s.tried - t0) / ((performance.now() - start) / 1000) };
    }, { seconds, workers: WORKERS, prefix: PREFIX, work: UNREACHABLE, bundle: '/sigmesh.js' });
  } finally {
    await browser.close();
    server.close();
  }
}

rows.push({ name: 'node, 1 thread (in-process)', hashesPerSecond: nodeOneThread() });
rows.push({ name: `node, solver ${WORKERS} worker_threads`, hashesPerSecond: await nodeWorkers() });
const c = await chromium().catch((err: unknown) => { console.error('chromium bench failed:', err); return null; });
if (c) {
  rows.push({ name: `chromium, solver ${WORKERS} Web Workers`, hashesPerSecond: c.workers });
  rows.push({ name: 'chromium, 1 thread (page)', hashesPerSecond: c.page });
}
for (const r of rows) console.log(`${r.name.padEnd(36)} ${(r.hashesPerSecond / 1e6).toFixed(2).padStart(7)} MH/s`);
console.log(JSON.stringify({ bench: 'sigmesh-solver', quick, rows }));

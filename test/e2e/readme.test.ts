import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdir, mkdtemp, readFile, rm, symlink, writeFile, copyFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { bodyHash, meetsWork, parseProofHeader, proofHash } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { launchChromium } from './support/browser.js';
import { startMeshNode, type MeshNodeProcess } from './support/node.js';
import { runIn, serveDir, SIGMESH_DIR, TSC, type StaticServer } from './support/package.js';

// Issue 15, must show: libs/sigmesh/README.md's code blocks run as written against a
// local node: the browser quick start (type-checked with DOM libs, then run in two
// Chromium pages that import the node's bundle from another origin) and the Node
// block (run by node, talking to those pages). The README's example host is mapped to
// the local node by wrapping `fetch` before the code runs; the code itself is
// untouched. And the cross-origin bundle's solver runs in workers. Needs `make build`.

const EXAMPLE_HOST = 'https://node-a.example';
const README = fileURLToPath(new URL('../../libs/sigmesh/README.md', import.meta.url));
const CONSUMERS = fileURLToPath(new URL('./consumers/', import.meta.url));

/** Fenced blocks of a markdown text with their language. */
function codeBlocks(markdown: string): { lang: string; code: string }[] {
  return [...markdown.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, code: m[2]! }));
}

let work: string;
let node: MeshNodeProcess;
let site: StaticServer;
let browser: Browser;
let quickStart: string;
let nodeBlock: string;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  const blocks = codeBlocks(await readFile(README, 'utf8')).filter((b) => b.code.includes("from '@mesh/sigmesh'"));
  const ts = blocks.filter((b) => b.lang === 'ts');
  const js = blocks.filter((b) => b.lang === 'js');
  // Exactly these two: a new example must be added to this test, not silently skipped.
  expect([ts.length, js.length, blocks.length]).toEqual([1, 1, 2]);
  quickStart = ts[0]!.code;
  nodeBlock = js[0]!.code;
  work = await mkdtemp(join(tmpdir(), 'sigmesh-readme-'));
  // `@mesh/sigmesh` resolves to the built package, as after `npm install`.
  await mkdir(join(work, 'node_modules/@mesh'), { recursive: true });
  await symlink(SIGMESH_DIR, join(work, 'node_modules/@mesh/sigmesh'));
  [node, browser] = await Promise.all([startMeshNode({ name: 'readme', turnBackend: 'node-turn' }), launchChromium()]);
  await mkdir(join(work, 'site'));
  site = await serveDir(join(work, 'site'));
}, 60_000);

afterAll(async () => {
  await Promise.all(contexts.map((c) => c.close().catch(() => undefined)));
  await browser?.close();
  await site?.close();
  await node?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 30_000);

/** A page of the site, its console calls (arguments as JSON values) and page errors. */
/** `roomPosts`: room posts the node accepted, over HTTP or the post channel. */
interface Tab { page: Page; logs: unknown[][]; errors: string[]; roomPosts: number }

async function openTab(path: string): Promise<Tab> {
  const context = await browser.newContext();
  contexts.push(context);
  const page = await context.newPage();
  const tab: Tab = { page, logs: [], errors: [], roomPosts: 0 };
  page.on('response', (r) => { if (r.url().includes('/room/') && r.request().method() === 'POST' && r.ok()) tab.roomPosts++; });
  // Posts over the post channel (PROTOCOL.md) count when answered with an id.
  page.on('websocket', (ws) => {
    if (!ws.url().includes('/room/')) return;
    ws.on('framereceived', (f) => { if ((JSON.parse(String(f.payload)) as { id?: unknown }).id !== undefined) tab.roomPosts++; });
  });
  page.on('pageerror', (e) => tab.errors.push(e.message));
  page.on('console', (m) => {
    void Promise.all(m.args().map((a) => a.jsonValue().catch(() => '?'))).then((args) => tab.logs.push(args as unknown[]));
  });
  await page.goto(`${site.url}/${path}`);
  return tab;
}

const has = (tab: Tab, entry: unknown[]): boolean => tab.logs.some((l) => JSON.stringify(l) === JSON.stringify(entry));

describe('the README quick start', () => {
  test('type-checks as a DOM-only TypeScript module against the built package', async () => {
    const dir = join(work, 'typecheck');
    await mkdir(dir);
    await symlink(join(work, 'node_modules'), join(dir, 'node_modules'));
    await writeFile(join(dir, 'quickstart.ts'), quickStart);
    await copyFile(join(CONSUMERS, 'browser/tsconfig.json'), join(dir, 'tsconfig.json'));
    const { stdout } = await runIn(dir, TSC, ['--noEmit', '-p', 'tsconfig.json']);
    expect(stdout).toBe('');
  }, 60_000);

  test('runs as written in two pages on another origin than the node, and the Node block talks to them', async () => {
    // Types stripped, nothing else changed.
    const js = (await transform(quickStart, { loader: 'ts', format: 'esm', target: 'es2022' })).code;
    await writeFile(join(work, 'site/quickstart.js'), js);
    await writeFile(join(work, 'site/index.html'), `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>README quick start</title><link rel="icon" href="data:,">
<script type="importmap">${JSON.stringify({ imports: { '@mesh/sigmesh': `${node.url}/demo/sigmesh.js` } })}</script>
<script>
  // The README's example host is this test's node: fetch is wrapped, the README's code is not touched.
  const realFetch = fetch;
  window.fetch = (input, init) => realFetch(typeof input === 'string' ? input.replace(${JSON.stringify(EXAMPLE_HOST)}, ${JSON.stringify(node.url)}) : input, init);
</script>
<script type="module" src="./quickstart.js"></script>
</head><body><button id="leave">leave</button></body></html>`);

    const a = await openTab('index.html');
    // A is in the room (its hello is posted) before B comes, so B's broadcast reaches A.
    await waitFor(() => a.roomPosts > 0, { timeoutMs: 20_000, intervalMs: 50, message: 'the first page posted its hello' }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${JSON.stringify(a)}`, { cause: err });
    });
    const b = await openTab('index.html');

    const joined = (t: Tab): string | undefined => t.logs.find((l) => l[0] === 'peer joined')?.[1] as string | undefined;
    const describeTabs = (): string => JSON.stringify({ a: a.logs, b: b.logs, errors: [...a.errors, ...b.errors] });
    await waitFor(() => {
      const idB = joined(a);
      const idA = joined(b);
      // Each page logs the connection type after its own channel opened and getStats answered,
      // which can come after the other side's hi arrived: wait for that log too.
      const typed = (t: Tab, id: string): boolean => has(t, [id, 'direct']) || has(t, [id, 'relayed']);
      return idA !== undefined && idB !== undefined
        && has(a, [idB, 'hi over WebRTC']) && has(b, [idA, 'hi over WebRTC'])
        && has(a, [idB, 'psst']) && has(b, [idA, 'psst'])
        && typed(a, idB) && typed(b, idA);
    }, { timeoutMs: 40_000, intervalMs: 100, message: 'both pages log the other joining, its psst, its data channel hi and the connection type' }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${describeTabs()}`, { cause: err });
    });
    const idB = joined(a)!;
    const idA = joined(b)!;
    expect(idA).not.toBe(idB);
    // B's broadcast to everyone; the connection type each page read from getStats.
    expect(has(a, [idB, { hello: 'world' }])).toBe(true);
    expect(has(a, [idB, 'direct'])).toBe(true);
    expect(has(b, [idA, 'direct'])).toBe(true);

    // The Node block, as written, with the same host mapping preloaded.
    const dir = join(work, 'node');
    await mkdir(dir);
    await symlink(join(work, 'node_modules'), join(dir, 'node_modules'));
    await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    await writeFile(join(dir, 'readme.mjs'), nodeBlock);
    await writeFile(join(dir, 'map-host.mjs'), `const realFetch = globalThis.fetch;
globalThis.fetch = (input, init) => realFetch(typeof input === 'string' ? input.replace(${JSON.stringify(EXAMPLE_HOST)}, ${JSON.stringify(node.url)}) : input, init);\n`);
    // It exits by itself once mesh.close() resolved (nothing left holding the process).
    await runIn(dir, process.execPath, ['--import', './map-host.mjs', 'readme.mjs'], 30_000);
    await waitFor(() => [a, b].every((t) => t.logs.some((l) => l[0] !== idA && l[0] !== idB && JSON.stringify(l[1]) === '{"hello":"from node"}')),
      { timeoutMs: 10_000, intervalMs: 100, message: 'both pages log the Node block\'s message' }).catch((err: unknown) => {
      throw new Error(`${String(err)}\n${describeTabs()}`, { cause: err });
    });
    expect([...a.errors, ...b.errors]).toEqual([]);
  }, 90_000);
});

describe('the bundle imported from a node by a page of another origin', () => {
  test('solves in Web Workers (a blob worker imports the node\'s solver-worker.js)', async () => {
    await writeFile(join(work, 'site/blank.html'), '<!doctype html><html><head><meta charset="utf-8"><link rel="icon" href="data:,"></head><body></body></html>');
    const tab = await openTab('blank.html');
    const challenge = { token: 'v1.1.cross-origin', work: 20_000, method: 'POST', path: '/token' };
    const out = await tab.page.evaluate(async ({ bundle, c }) => {
      type Lib = { createSolver(o: { workers: number }): { solve(c: unknown): Promise<string>; mode(): string; close(): void } };
      const lib = (await import(bundle)) as Lib;
      const solver = lib.createSolver({ workers: 2 });
      const header = await solver.solve(c);
      const mode = solver.mode();
      solver.close();
      return { header, mode, origin: (globalThis as unknown as { location: { origin: string } }).location.origin };
    }, { bundle: `${node.url}/demo/sigmesh.js`, c: challenge });
    expect(out.origin).not.toBe(new URL(node.url).origin);
    expect(out.mode).toBe('workers');
    const proof = parseProofHeader(out.header);
    if (typeof proof === 'string') throw new Error(proof);
    expect(meetsWork(proofHash({ ...proof, method: 'POST', path: '/token', bodyHash: bodyHash(new Uint8Array()) }), proof.work)).toBe(true);
    expect(tab.errors).toEqual([]);
  }, 30_000);
});

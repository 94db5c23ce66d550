import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import type { Browser, Page } from 'playwright-core';
import { launchChromium } from './support/browser.js';
import { startMeshNode, type MeshNodeProcess } from './support/node.js';
import { installConsumer, packSigmesh, runIn, serveDir, TSC, type Packed, type StaticServer } from './support/package.js';

// Issue 15, must show: sigmesh installed as its users get it (`npm pack`, offline
// install of the tarball) by two scratch consumers: a browser app (esbuild bundle,
// DOM libs only, `tsc --noEmit` clean, run in Chromium) and a Node app that uses rooms
// only, both against a local node. Needs `make build`.

const CONSUMERS = fileURLToPath(new URL('./consumers/', import.meta.url));

let work: string;
let packed: Packed;
let node: MeshNodeProcess;
let browser: Browser | undefined;
let site: StaticServer | undefined;

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'sigmesh-pack-'));
  [packed, node] = await Promise.all([
    packSigmesh(work),
    startMeshNode({ name: 'pkg', turnBackend: 'node-turn' }),
  ]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await site?.close();
  await node?.stop();
  if (work) await rm(work, { recursive: true, force: true });
}, 30_000);

describe('the tarball', () => {
  test('holds the built library, its declarations and the browser bundle; publishable metadata', async () => {
    const paths = packed.files.map((f) => f.path);
    for (const f of ['package.json', 'README.md', 'dist/index.js', 'dist/index.d.ts', 'dist/solver.js', 'dist/solver-worker.js', 'dist/browser/sigmesh.js', 'dist/browser/solver-worker.js']) {
      expect(paths).toContain(f);
    }
    // No tests, demo or build state.
    expect(paths.filter((p) => p.startsWith('test/') || p.startsWith('demo/') || p.includes('tsbuildinfo'))).toEqual([]);
    const pkg = JSON.parse(await readFile(join(fileURLToPath(new URL('../../libs/sigmesh/', import.meta.url)), 'package.json'), 'utf8')) as {
      private?: boolean; files?: string[]; types?: string; exports: Record<string, { types?: string; default?: string } | string>;
    };
    expect(pkg.private).toBeUndefined();
    expect(pkg.files?.length).toBeGreaterThan(0);
    const root = pkg.exports['.'] as { types: string; default: string };
    expect(root.types).toBe('./dist/index.d.ts');
    expect(pkg.types).toBe('./dist/index.d.ts');
    expect(paths).toContain(root.default.slice(2));
  });
});

describe('a Node consumer (rooms only)', () => {
  test('installs the tarball offline, meets a second member through the local node, exits by itself', async () => {
    const dir = join(work, 'node-app');
    await installConsumer(dir, packed.tarball);
    await copyFile(join(CONSUMERS, 'node/consumer.mjs'), join(dir, 'consumer.mjs'));
    const { stdout } = await runIn(dir, process.execPath, ['consumer.mjs', node.url, `room-${randomBytes(4).toString('hex')}`], 30_000);
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!) as Record<string, unknown>;
    // The solver found dist/solver-worker.js inside the installed package.
    expect(out).toEqual({ peerIsBob: true, fromBob: true, data: { hello: 'from bob' }, leftIsBob: true, solver: 'workers' });
  }, 40_000);
});

describe('a browser consumer (esbuild, DOM libs only)', () => {
  let dir: string;

  beforeAll(async () => {
    dir = join(work, 'browser-app');
    await installConsumer(dir, packed.tarball);
    for (const f of ['main.ts', 'tsconfig.json', 'index.html']) await copyFile(join(CONSUMERS, 'browser', f), join(dir, f));
  }, 60_000);

  test('type-checks with `tsc --noEmit` against the installed declarations', async () => {
    const { stdout } = await runIn(dir, TSC, ['--noEmit', '-p', 'tsconfig.json']);
    expect(stdout).toBe('');
  }, 60_000);

  test('bundles with esbuild and two pages of it connect over WebRTC through the local node', async () => {
    const result = await build({
      entryPoints: [join(dir, 'main.ts')], absWorkingDir: dir, bundle: true, format: 'esm', platform: 'browser',
      target: 'es2022', outfile: join(dir, 'bundle.js'), logLevel: 'silent',
    });
    expect(result.errors).toEqual([]);
    expect(result.warnings).toEqual([]);
    site = await serveDir(dir);
    browser = await launchChromium();
    const room = `room-${randomBytes(4).toString('hex')}`;
    const url = `${site.url}/index.html?seed=${encodeURIComponent(node.url)}&room=${room}`;
    const open = async (): Promise<{ page: Page; log: string[] }> => {
      const page = await (await browser!.newContext()).newPage();
      const log: string[] = [];
      page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
      page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
      await page.goto(url);
      return { page, log };
    };
    type State = { selfId: string | null; connected: string[]; received: { from: string; text: string }[]; solver: string; errors: string[] };
    const state = (p: Page): Promise<State> => p.evaluate(() => (globalThis as unknown as { consumer: State }).consumer);
    const a = await open();
    const b = await open();
    const waitHi = async (p: { page: Page; log: string[] }): Promise<void> => {
      try {
        await p.page.waitForFunction(() => (globalThis as unknown as { consumer?: State }).consumer?.received.some((m) => m.text.startsWith('hi from')) ?? false,
          null, { timeout: 30_000, polling: 100 });
      } catch (err) {
        throw new Error(`${JSON.stringify(await state(p.page))}\n${p.log.join('\n')}`, { cause: err });
      }
    };
    await Promise.all([waitHi(a), waitHi(b)]);
    const [sa, sb] = await Promise.all([state(a.page), state(b.page)]);
    expect(sa.connected).toEqual([sb.selfId]);
    expect(sb.connected).toEqual([sa.selfId]);
    expect(sa.received).toEqual([{ from: sb.selfId, text: `hi from ${sb.selfId} to ${sa.selfId}` }]);
    expect(sb.received).toEqual([{ from: sa.selfId, text: `hi from ${sa.selfId} to ${sb.selfId}` }]);
    // The bundle has no solver-worker.js beside it: the PoW was paid on the page's thread.
    expect(sa.solver).toBe('same-thread');
    expect([...sa.errors, ...sb.errors]).toEqual([]);
  }, 60_000);

  test('with the package\'s solver-worker.js copied next to the bundle (as its README says), the same bundle solves in workers', async () => {
    await copyFile(join(dir, 'node_modules/@mesh/sigmesh/dist/browser/solver-worker.js'), join(dir, 'solver-worker.js'));
    const page = await (await browser!.newContext()).newPage();
    await page.goto(`${site!.url}/index.html?seed=${encodeURIComponent(node.url)}&room=alone-${randomBytes(4).toString('hex')}`);
    type Seen = { solver: string; errors: string[] };
    await page.waitForFunction(() => (globalThis as unknown as { consumer?: Seen }).consumer?.solver !== 'idle', null, { timeout: 20_000, polling: 100 });
    const seen = await page.evaluate(() => (globalThis as unknown as { consumer: Seen }).consumer);
    expect(seen).toMatchObject({ solver: 'workers', errors: [] });
  }, 30_000);
});

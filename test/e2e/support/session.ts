import { afterAll, beforeAll } from '@jest/globals';
import type { Browser } from 'playwright-core';
import { launchChromium, openDemo, type DemoPage } from './browser.js';
import { startMeshNode, type MeshNodeProcess, type NodeOptions } from './node.js';

/**
 * Chromium, demo pages and nodes of one e2e test file: the browser is launched before
 * the file's tests, and every page opened and node started through the session is
 * closed after them (pages first, so their byes reach the nodes).
 */
export interface E2eSession {
  readonly browser: Browser;
  open(name: string, url: string): Promise<DemoPage>;
  node(opts: NodeOptions): Promise<MeshNodeProcess>;
}

export function e2eSession(): E2eSession {
  let browser: Browser | undefined;
  const pages: DemoPage[] = [];
  const nodes: MeshNodeProcess[] = [];
  beforeAll(async () => {
    browser = await launchChromium();
  }, 30_000);
  afterAll(async () => {
    await Promise.all(pages.map((p) => p.close()));
    await browser?.close();
    await Promise.all(nodes.map((n) => n.stop()));
  }, 30_000);
  const session: E2eSession = {
    get browser(): Browser {
      if (!browser) throw new Error('the browser starts in beforeAll');
      return browser;
    },
    async open(name, url) {
      const p = await openDemo(session.browser, name, url);
      pages.push(p);
      return p;
    },
    async node(opts) {
      const n = await startMeshNode(opts);
      nodes.push(n);
      return n;
    },
  };
  return session;
}

import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * Headless Debian Chromium driven by playwright-core, and the demo page's controls.
 * Each demo page gets its own browser context: its own localStorage (remembered
 * nodes), as two people on two machines would have.
 */

export const CHROMIUM_ARGS = [
  '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
  // Real host candidates instead of mDNS names, which nothing resolves on this closed machine.
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
}

/** Shape of `window.sigmeshDemo` (libs/sigmesh/demo/demo.ts). */
export interface DemoNode { url: string; id: string; difficulty: number; connected: boolean }
export interface DemoPair { local: string; remote: string; bytesSent: number; bytesReceived: number; localPort: number; remotePort: number }
interface DemoApi {
  known(): string[];
  selfId(): string | null;
  nodes(): DemoNode[];
  peers(): string[];
  /** The room's bye can leave at once (its proof is solved ahead, for pagehide). */
  byeReady(): boolean;
  /** Joins started (one per accepted click of Join). */
  joins(): number;
  /** The banner's text: a failure and what to try, or empty. */
  status(): string;
  /** The proof-of-work line next to the bar. */
  pow(): string;
  connected(): string[];
  kinds(): Record<string, string>;
  received(): { from: string; text: string }[];
  events(): string[];
  selectedPair(id: string): Promise<DemoPair | null>;
  connections(): Record<string, Record<string, unknown>>;
}
export type DemoWindow = { sigmeshDemo: DemoApi };

export interface DemoPage {
  name: string;
  page: Page;
  context: BrowserContext;
  /** Console lines and page errors, printed when a wait fails. */
  console: string[];
  join(room: string, opts?: { relay?: boolean }): Promise<void>;
  /** Resolves with the ids of peers whose data channel is open, once there are `n`. */
  waitConnected(n: number, timeoutMs?: number): Promise<string[]>;
  chat(text: string): Promise<void>;
  waitReceived(text: string, timeoutMs?: number): Promise<void>;
  selfId(): Promise<string>;
  nodes(): Promise<DemoNode[]>;
  kinds(): Promise<Record<string, string>>;
  selectedPair(peerId: string): Promise<DemoPair | null>;
  close(): Promise<void>;
}

const MAX_CONSOLE_LINES = 400;

export async function openDemo(browser: Browser, name: string, url: string): Promise<DemoPage> {
  const context = await browser.newContext();
  const page = await context.newPage();
  const lines: string[] = [];
  const keep = (line: string): void => {
    lines.push(`[${name}] ${line}`);
    if (lines.length > MAX_CONSOLE_LINES) lines.shift();
  };
  page.on('console', (m) => keep(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => keep(`pageerror: ${e.message}`));
  page.on('requestfailed', (r) => keep(`requestfailed: ${r.method()} ${r.url()} ${r.failure()?.errorText ?? ''}`));

  /** A bounded wait whose failure carries the page's own log and console. */
  const waitIn = async <T>(what: string, timeoutMs: number, fn: () => Promise<T>): Promise<T> => {
    try {
      return await fn();
    } catch (err) {
      const events = await page.evaluate(() => (globalThis as unknown as DemoWindow).sigmeshDemo?.events() ?? []).catch(() => []);
      const conns = await page.evaluate(() => JSON.stringify((globalThis as unknown as DemoWindow).sigmeshDemo?.connections() ?? {})).catch(() => '?');
      throw new Error(`${name}: ${what} (within ${timeoutMs} ms) failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}\n`
        + `page log:\n  ${events.join('\n  ')}\nconnections: ${conns}\nconsole:\n  ${lines.join('\n  ')}`, { cause: err });
    }
  };

  await waitIn(`load ${url}`, 15_000, async () => {
    const res = await page.goto(url, { timeout: 15_000 });
    if (!res || res.status() !== 200) throw new Error(`GET ${url} answered ${res?.status() ?? 'nothing'}`);
    await page.waitForFunction(() => (globalThis as unknown as Partial<DemoWindow>).sigmeshDemo !== undefined, null, { timeout: 15_000 });
  });

  const demo: DemoPage = {
    name, page, context, console: lines,
    async join(room, opts = {}) {
      await page.fill('#room', room);
      await page.setChecked('#relay', opts.relay === true);
      await page.click('#join button');
      await waitIn(`join room "${room}"`, 20_000, () => page.waitForFunction(
        () => {
          const d = (globalThis as unknown as DemoWindow).sigmeshDemo;
          return d.selfId() !== null && d.nodes().some((n) => n.connected);
        }, null, { timeout: 20_000, polling: 50 }));
    },
    async waitConnected(n, timeoutMs = 30_000) {
      return waitIn(`data channels open with ${n} peer(s)`, timeoutMs, async () => {
        const h = await page.waitForFunction((want) => {
          const ids = (globalThis as unknown as DemoWindow).sigmeshDemo.connected();
          return ids.length >= want ? ids : null;
        }, n, { timeout: timeoutMs, polling: 50 });
        return (await h.jsonValue()) as string[];
      });
    },
    async chat(text) {
      await page.fill('#text', text);
      await page.click('#send');
    },
    async waitReceived(text, timeoutMs = 10_000) {
      await waitIn(`receive "${text}" over the data channel`, timeoutMs, () => page.waitForFunction(
        (t) => (globalThis as unknown as DemoWindow).sigmeshDemo.received().some((m) => m.text === t),
        text, { timeout: timeoutMs, polling: 50 }));
    },
    async selfId() {
      const id = await page.evaluate(() => (globalThis as unknown as DemoWindow).sigmeshDemo.selfId());
      if (id === null) throw new Error(`${name}: not in a room`);
      return id;
    },
    nodes: () => page.evaluate(() => (globalThis as unknown as DemoWindow).sigmeshDemo.nodes()),
    kinds: () => page.evaluate(() => (globalThis as unknown as DemoWindow).sigmeshDemo.kinds()),
    selectedPair: (peerId) => page.evaluate((id) => (globalThis as unknown as DemoWindow).sigmeshDemo.selectedPair(id), peerId),
    async close() {
      await context.close().catch(() => undefined);
    },
  };
  return demo;
}

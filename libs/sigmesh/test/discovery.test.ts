import { describe, test, expect, afterEach } from '@jest/globals';
import { Discovery } from '../src/discovery.js';
import { memoryStorage } from '../src/storage.js';
import { startFakeNode, type FakeNode } from './support/fake-node.js';

const started: FakeNode[] = [];
async function node(opts: Parameters<typeof startFakeNode>[0] = {}): Promise<FakeNode> {
  const n = await startFakeNode(opts);
  started.push(n);
  return n;
}
afterEach(async () => {
  await Promise.all(started.splice(0).map((n) => n.close().catch(() => undefined)));
});

describe('discovery', () => {
  test('learns nodes from /nodes of a seed, probes them and remembers them', async () => {
    const b = await node();
    const c = await node();
    const a = await node({ nodes: () => [a.url, b.url, c.url, 'ftp://junk', 'http://127.0.0.1:1'] });
    const storage = memoryStorage();
    const d = new Discovery({ seeds: [a.url], storage, client: { timeoutMs: 2000 } });
    await d.refresh();
    expect(d.live().map((n) => n.id).sort()).toEqual([a.id, b.id, c.id].sort());
    // The unreachable listed node was dropped at once, the junk never added.
    expect(d.known().map((n) => n.url).sort()).toEqual([a.url, b.url, c.url].sort());
    const saved = JSON.parse((await storage.get('sigmesh.nodes.v1'))!) as { url: string }[];
    expect(saved.map((s) => s.url).sort()).toEqual([a.url, b.url, c.url].sort());

    // A new visit starts from storage even when the seed is gone.
    await a.close();
    const d2 = new Discovery({ seeds: [a.url], storage, client: { timeoutMs: 2000 } });
    await d2.refresh();
    expect(d2.live().map((n) => n.id).sort()).toEqual([b.id, c.id].sort());
  });

  test('drops a remembered node after repeated failures, keeps a dead seed', async () => {
    const b = await node();
    const a = await node({ nodes: () => [a.url, b.url] });
    const d = new Discovery({ seeds: [a.url], storage: memoryStorage(), maxFailures: 2, client: { timeoutMs: 2000 } });
    await d.refresh();
    expect(d.live()).toHaveLength(2);
    await b.close();
    await d.refresh();
    expect(d.known().map((n) => n.url)).toContain(b.url); // one failure: still known, not live
    expect(d.live().map((n) => n.url)).toEqual([a.url]);
    await d.refresh();
    expect(d.known().map((n) => n.url)).not.toContain(b.url);
    await a.close();
    await d.refresh();
    await d.refresh();
    await d.refresh();
    expect(d.known().map((n) => n.url)).toEqual([a.url]);
    expect(d.live()).toEqual([]);
  });

  test('ignores nodes of another network and duplicate URLs of one node', async () => {
    const other = await node({ network: 'cd'.repeat(20) });
    const a = await node({ nodes: () => [a.url, other.url, a.url.replace('127.0.0.1', 'localhost')] });
    const d = new Discovery({ seeds: [a.url], storage: memoryStorage(), client: { timeoutMs: 2000 } });
    await d.refresh();
    expect(d.live().map((n) => n.id)).toEqual([a.id]);
    expect(d.known()).toHaveLength(1);
  });
});

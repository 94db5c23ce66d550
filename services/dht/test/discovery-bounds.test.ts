import { afterEach, describe, expect, test } from '@jest/globals';
import {
  createMemoryStore, createMetrics, NODE_RETRY_MS, NODE_REVERIFY_MS, NODE_TTL_MS, NODES_SET, type Store,
} from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createDiscovery, MAX_PORTS_PER_IP, type Discovery } from '../src/discovery.js';
import type { ProbeFn, ProbeResult } from '../src/probe.js';
import { metricValue, silentLog } from './support.js';

const network = 'a'.repeat(40);
const idOf = (n: number): string => n.toString(16).padStart(64, '0');
// One IP per peer (the probe is a stub: nothing is sent), so the per-IP port cap stays out of the way.
const peer = (n: number): { host: string; port: number } => ({ host: `198.18.${n >> 8}.${n & 255}`, port: 10000 + n });

describe('discovery bounds', () => {
  let discovery: Discovery | undefined;
  let store: Store | undefined;

  afterEach(async () => {
    discovery?.stop();
    await store?.close();
  });

  function setup(probe: ProbeFn, opts: { maxNodes?: number } = {}) {
    let nowMs = 1_700_000_000_000;
    const metrics = createMetrics({ service: 'dht', defaultMetrics: false });
    store = createMemoryStore();
    discovery = createDiscovery({
      store, log: silentLog, metrics, probe, probeOptions: { network, allowInsecure: true, timeoutMs: 1000 },
      maxNodes: opts.maxNodes ?? 100, now: () => nowMs,
    });
    return { d: discovery, s: store, metrics, advance: (ms: number) => { nowMs += ms; }, now: () => nowMs };
  }

  const verifyAll: ProbeFn = async (p) => ({ ok: true, id: idOf(p.port), url: `http://127.0.0.1:${p.port}` });

  test('keeps at most maxNodes nodes', async () => {
    const { d, s, metrics } = setup(verifyAll, { maxNodes: 2 });
    for (let i = 0; i < 3; i++) d.offer(peer(i));
    await d.idle();
    expect(await s.size(NODES_SET)).toBe(2);
    expect(await metricValue(metrics, 'mesh_mesh_probes_total', { outcome: 'full' })).toBe(1);
  });

  test('a refused address backs off; a verified one is not probed again at once', async () => {
    const calls: number[] = [];
    const { d, advance } = setup(async (p) => {
      calls.push(p.port);
      return p.port === 10001 ? { ok: false, reason: 'timeout' } : verifyAll(p, { network, allowInsecure: true, timeoutMs: 1 });
    });
    d.offer(peer(1));
    d.offer(peer(2));
    await d.idle();
    d.offer(peer(1));
    d.offer(peer(2));
    await d.idle();
    expect(calls.sort()).toEqual([10001, 10002]);
    advance(31_000);
    d.offer(peer(1));
    d.offer(peer(2));
    await d.idle();
    expect(calls.filter((c) => c === 10001)).toHaveLength(2);
    expect(calls.filter((c) => c === 10002)).toHaveLength(1);
    // Second failure: the wait doubles.
    advance(31_000);
    d.offer(peer(1));
    await d.idle();
    expect(calls.filter((c) => c === 10001)).toHaveLength(2);
  });

  test('at most 4 probes at once, a bounded queue, and a bounded start rate', async () => {
    let running = 0;
    let maxRunning = 0;
    let started = 0;
    const release: (() => void)[] = [];
    const { d, metrics, advance } = setup(async () => {
      started++;
      running++;
      maxRunning = Math.max(maxRunning, running);
      await new Promise<void>((r) => release.push(r));
      running--;
      return { ok: false, reason: 'timeout' } satisfies ProbeResult;
    });
    for (let i = 0; i < 300; i++) d.offer(peer(i));
    expect(maxRunning).toBe(4);
    // 4 running, 256 queued, the rest dropped.
    expect(await metricValue(metrics, 'mesh_mesh_probes_total', { outcome: 'dropped' })).toBe(40);
    // Frozen clock: once the burst of 20 tokens is spent, nothing more starts.
    await waitFor(() => {
      release.splice(0).forEach((r) => r());
      return started >= 20;
    }, { timeoutMs: 2000 });
    release.splice(0).forEach((r) => r());
    await new Promise((r) => setTimeout(r, 250)); // two refill ticks, with the clock frozen
    expect(started).toBe(20);
    // One second later, ten more tokens.
    advance(1000);
    await waitFor(() => {
      release.splice(0).forEach((r) => r());
      return started >= 30;
    }, { timeoutMs: 2000 });
    release.splice(0).forEach((r) => r());
    expect(started).toBe(30);
  });

  test('forgets nodes unseen for NODE_TTL_MS and lists itself', async () => {
    const { d, s, advance, metrics } = setup(verifyAll);
    d.offer(peer(1));
    await d.idle();
    advance(NODE_TTL_MS - 60_000);
    await d.touchSelf('http://self.example');
    expect(await d.sweep()).toBe(2);
    advance(2 * 60_000);
    expect(await d.sweep()).toBe(1);
    expect((await s.seenSince(NODES_SET, 0, 10)).map((m) => m.member)).toEqual(['http://self.example']);
    expect(await metricValue(metrics, 'mesh_mesh_nodes')).toBe(1);
  });

  test('at most MAX_PORTS_PER_IP ports of one IP per round, DHT offers and hints counted apart', async () => {
    const ports: number[] = [];
    const { d, metrics } = setup(async (p) => {
      ports.push(p.port);
      return { ok: false, reason: 'timeout' };
    });
    // One DHT answer listing 200 ports of one host.
    for (let i = 0; i < 200; i++) d.offer({ host: '203.0.113.9', port: 20000 + i }, 'dht');
    await d.idle();
    expect(ports).toHaveLength(MAX_PORTS_PER_IP);
    expect(await metricValue(metrics, 'mesh_mesh_probes_total', { outcome: 'capped' })).toBe(200 - MAX_PORTS_PER_IP);
    for (let i = 0; i < 10; i++) d.offer({ host: '203.0.113.9', port: 30000 + i }, 'hint');
    await d.idle();
    expect(ports).toHaveLength(2 * MAX_PORTS_PER_IP);
    // A new round (the next lookup) lets two more through, not the rest.
    d.newRound();
    for (let i = 0; i < 200; i++) d.offer({ host: '203.0.113.9', port: 20000 + i }, 'dht');
    await d.idle();
    expect(ports).toHaveLength(3 * MAX_PORTS_PER_IP);
  });

  test('a listed node is re-probed when due, and leaves the list after two failed re-probes a minute apart', async () => {
    let alive = true;
    const probedAt: number[] = [];
    const { d, s, advance, now, metrics } = setup(async (p) => {
      probedAt.push(now());
      return alive ? verifyAll(p, { network, allowInsecure: true, timeoutMs: 1 }) : { ok: false, reason: 'unreachable' };
    });
    await d.touchSelf('http://self.example');
    d.offer(peer(1));
    await d.idle();
    const url = `http://127.0.0.1:${peer(1).port}`;
    expect((await s.seenSince(NODES_SET, 0, 10)).map((m) => m.member)).toContain(url);

    // Not due yet: nothing is probed.
    advance(NODE_REVERIFY_MS - 1000);
    await d.reverify();
    await d.idle();
    expect(probedAt).toHaveLength(1);
    // Due: probed again while alive, and kept fresh.
    advance(1000);
    await d.touchSelf('http://self.example');
    await d.reverify();
    await d.idle();
    expect(probedAt).toHaveLength(2);
    expect((await s.seenSince(NODES_SET, now() - 1, 10)).map((m) => m.member)).toContain(url);

    alive = false;
    advance(NODE_REVERIFY_MS);
    await d.reverify();
    await d.idle();
    expect(probedAt).toHaveLength(3);
    expect((await s.seenSince(NODES_SET, 0, 10)).map((m) => m.member)).toContain(url);
    // Within the minute the failed node is not probed again, however often reverify runs.
    advance(NODE_RETRY_MS - 1000);
    await d.reverify();
    await d.idle();
    expect(probedAt).toHaveLength(3);
    advance(1000);
    await d.reverify();
    await d.idle();
    expect(probedAt).toHaveLength(4);
    expect((await s.seenSince(NODES_SET, 0, 10)).map((m) => m.member)).toEqual(['http://self.example']);
    expect(await metricValue(metrics, 'mesh_mesh_nodes_removed_total')).toBe(1);
    // Never more than once a minute.
    for (let i = 1; i < probedAt.length; i++) {
      expect((probedAt[i] as number) - (probedAt[i - 1] as number)).toBeGreaterThanOrEqual(NODE_RETRY_MS);
    }
  });

  test('a failed probe of a listed address counts against the listed node whoever offered it', async () => {
    let alive = true;
    const { d, s, advance } = setup(async (p) => (alive ? verifyAll(p, { network, allowInsecure: true, timeoutMs: 1 }) : { ok: false, reason: 'refused' }));
    d.offer(peer(1));
    await d.idle();
    alive = false;
    // A DHT answer offers the dead node's address before its re-probe is due in reverify.
    advance(NODE_REVERIFY_MS);
    d.newRound();
    d.offer(peer(1));
    await d.idle();
    advance(NODE_RETRY_MS);
    d.newRound();
    d.offer(peer(1));
    await d.idle();
    expect(await s.size(NODES_SET)).toBe(0);
  });

  test('a listed address that now serves another node counts as a failed re-probe', async () => {
    let id = idOf(1);
    let url = 'http://node-a.example';
    const { d, s, advance } = setup(async () => ({ ok: true, id, url }));
    d.offer(peer(1));
    await d.idle();
    id = idOf(2);
    url = 'http://node-b.example';
    for (let i = 0; i < 2; i++) {
      advance(NODE_REVERIFY_MS);
      await d.reverify();
      await d.idle();
    }
    const members = (await s.seenSince(NODES_SET, 0, 10)).map((m) => m.member);
    expect(members).toEqual(['http://node-b.example']);
  });
});

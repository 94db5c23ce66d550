import { afterEach, describe, expect, test } from '@jest/globals';
import { createMemoryStore, createMetrics, type Store } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createDiscovery, type Discovery, NODES_SET } from '../src/discovery.js';
import type { ProbeFn, ProbeResult } from '../src/probe.js';
import { metricValue, silentLog } from './support.js';

const network = 'a'.repeat(40);
const idOf = (n: number): string => n.toString(16).padStart(64, '0');
const peer = (n: number): { host: string; port: number } => ({ host: '127.0.0.1', port: 10000 + n });

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
      store, log: silentLog, metrics, probe, network, allowInsecure: true, probeTimeoutMs: 1000,
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

  test('forgets nodes unseen for 30 minutes and lists itself', async () => {
    const { d, s, advance, metrics } = setup(verifyAll);
    d.offer(peer(1));
    await d.idle();
    advance(20 * 60_000);
    await d.touchSelf('http://self.example');
    expect(await d.sweep()).toBe(2);
    advance(11 * 60_000);
    expect(await d.sweep()).toBe(1);
    expect((await s.seenSince(NODES_SET, 0, 10)).map((m) => m.member)).toEqual(['http://self.example']);
    expect(await metricValue(metrics, 'mesh_mesh_nodes')).toBe(1);
  });
});

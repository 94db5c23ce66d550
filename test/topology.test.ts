/**
 * The compose topology as processes on this machine (issue "Production
 * deployment"): a private NATS and Redis that require credentials (issue 13), Caddy with infra/caddy/Caddyfile,
 * the built api, dht, turn and two rooms entries. Through the proxy a client
 * subscribes to a room and sees every post whichever worker served it; then
 * the worker holding its stream is stopped, and the client resumes on the
 * other worker with Last-Event-ID without losing or repeating a message.
 */
import { describe, test, expect, beforeAll, afterAll } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { connect as natsConnect } from '@nats-io/transport-node';
import { Redis } from 'ioredis';
import { waitFor } from '@mesh/shared/testing';
import { SseClient } from '@mesh/shared/testing';
import { checkDashboardMetrics, metricNamesFromExposition } from './support/infra-checks.js';
import { scrapeMetric } from './support/topology/metrics.js';
import { WebSocket } from 'ws';
import { solveProof } from '@mesh/shared';
import { RoomPoster, roomQuote } from './support/topology/room-client.js';
import { startTopology, type NodeProcess, type Topology } from './support/topology/topology.js';

const ROOM = randomBytes(20).toString('hex');
const FIRST_BATCH = 20;

let topo: Topology | undefined;
let poster: RoomPoster | undefined;
const clients: SseClient[] = [];
/** Every accepted post, in the order the 202s came back (posts are sequential). */
const posted: Array<{ text: string; id: string }> = [];
/** Statuses answered before a retry succeeded (kept for the failure message). */
const refusals: number[] = [];

function topology(): Topology {
  if (topo === undefined) throw new Error('topology did not start');
  return topo;
}

async function subscribe(lastEventId?: string): Promise<SseClient> {
  const c = await SseClient.connect(`${topology().proxyUrl}/room/${ROOM}`, lastEventId === undefined ? {} : { lastEventId });
  clients.push(c);
  return c;
}

async function post(text: string): Promise<void> {
  poster ??= new RoomPoster(topology().proxyUrl, ROOM);
  const r = await poster.post(text);
  refusals.push(...r.refused);
  posted.push({ text, id: r.id });
}

const streamsOpen = (p: NodeProcess): Promise<number> => scrapeMetric(p.opsPort, 'mesh_sse_streams_open');
const accepted = (p: NodeProcess): Promise<number> => scrapeMetric(p.opsPort, 'mesh_room_messages_accepted_total');

/** The worker whose mesh_sse_streams_open reached `count` while the other stayed at `others`. */
async function workerWithStreams(count: number, others: number): Promise<[NodeProcess, NodeProcess]> {
  const [a, b] = topology().rooms;
  let found: [NodeProcess, NodeProcess] | undefined;
  await waitFor(async () => {
    const [na, nb] = await Promise.all([streamsOpen(a), streamsOpen(b)]);
    if (na === count && nb === others) found = [a, b];
    else if (nb === count && na === others) found = [b, a];
    return found !== undefined;
  }, { timeoutMs: 5000, message: `a rooms worker with ${count} stream(s), the other with ${others}` });
  if (found === undefined) throw new Error('unreachable');
  return found;
}

/**
 * Every posted message exactly once, in posting order, with its id. NATS
 * orders messages per publisher only, so a post accepted by one worker can
 * reach another after a later post accepted elsewhere; the rooms workers
 * put them back in history order (each message names the one before it).
 */
function expectAll(events: Array<{ data: string; lastEventId: string; hasId: boolean }>): void {
  expect(events.map((e) => [e.data, e.lastEventId, e.hasId])).toEqual(posted.map((p) => [p.text, p.id, true]));
}

beforeAll(async () => {
  // A short reconnect delay keeps the run short; EventSource waits exactly this.
  // The failover test posts as fast as PoW allows: at an idle node's price that
  // is over 100 posts while the client is away, past the default history (a
  // gap PROTOCOL allows). A longer history keeps the test about the resume.
  topo = await startTopology({ env: { ROOM_RETRY_MS: '500', ROOM_HISTORY_MAX: '10000' } });
}, 60_000);

afterAll(async () => {
  await Promise.all(clients.map((c) => c.close()));
  await topo?.stop();
}, 30_000);

describe('compose topology as processes: Caddy, api, dht, turn, two rooms workers', () => {
  let s1: SseClient;
  let s2: SseClient;
  /** The worker serving s1, stopped in the failover test; the other one. */
  let holder: NodeProcess;
  let survivor: NodeProcess;

  test('NATS and Redis require credentials: every service connected with them, a client without is refused', async () => {
    const t = topology();
    // /readyz is 200 only while a service's bus and store answer (startTopology waited for it).
    for (const p of [t.api, t.dht, t.turn, ...t.rooms]) {
      const res = await fetch(`http://127.0.0.1:${p.opsPort}/readyz`);
      expect([p.name, res.status]).toEqual([p.name, 200]);
    }
    // RESP2 like our store: with RESP3 ioredis's HELLO itself is refused and the connection closed.
    const anonymous = new Redis({ port: t.redis.port, host: '127.0.0.1', protocol: 2, maxRetriesPerRequest: 0, retryStrategy: () => null });
    anonymous.on('error', () => undefined);
    try {
      await expect(anonymous.get('mesh:secret:node')).rejects.toThrow(/NOAUTH/);
    } finally {
      anonymous.disconnect();
    }
    await expect(natsConnect({ servers: `127.0.0.1:${t.nats.port}`, maxReconnectAttempts: 0, timeout: 3000 }))
      .rejects.toThrow(/Authorization Violation/i);
    const wrong = natsConnect({ servers: `127.0.0.1:${t.nats.port}`, user: t.nats.user, pass: 'wrong', maxReconnectAttempts: 0, timeout: 3000 });
    await expect(wrong).rejects.toThrow(/Authorization Violation/i);
  });

  test('the proxy sends / to the api and /room/* to the rooms workers', async () => {
    const t = topology();
    for (const p of [t.api, t.dht, t.turn, ...t.rooms]) expect([p.name, p.child.isRunning()]).toEqual([p.name, true]);

    const apiBefore = await scrapeMetric(t.api.opsPort, 'mesh_http_requests_total');
    const root = await fetch(`${t.proxyUrl}/`, { headers: { Accept: 'application/json' } });
    expect(root.status).toBe(200);
    await root.json();
    expect(await scrapeMetric(t.api.opsPort, 'mesh_http_requests_total')).toBeGreaterThan(apiBefore);

    const room = await fetch(`${t.proxyUrl}/room/${ROOM}`, { headers: { Accept: 'application/json' } });
    expect(room.status).toBe(200);
    expect(await room.json()).toEqual(expect.objectContaining({ hash: ROOM, token: expect.any(String), work: expect.any(Number) }));
  });

  test('a subscriber sees every post, whichever worker the proxy chose for it', async () => {
    s1 = await subscribe();
    await s1.until((c) => c.ofType('price').length > 0, 5000, 'the price event');
    [holder, survivor] = await workerWithStreams(1, 0);
    // A second subscriber, which least_conn puts on the other worker: with one
    // stream on each, every post is a tie that the proxy breaks at random.
    s2 = await subscribe();
    await workerWithStreams(1, 1);

    const acceptedBefore = await Promise.all(topology().rooms.map(accepted));
    for (let i = 0; i < FIRST_BATCH; i++) await post(`first ${i} ${randomBytes(4).toString('hex')}`);

    for (const c of [s1, s2]) await c.until((x) => x.messages().length >= FIRST_BATCH, 10_000, `${FIRST_BATCH} messages`);
    expectAll(s1.messages());
    expectAll(s2.messages());

    // Both workers took posts, so each subscriber got messages accepted by the worker it is not on.
    const perWorker = (await Promise.all(topology().rooms.map(accepted))).map((n, i) => n - (acceptedBefore[i] ?? 0));
    expect(perWorker.reduce((a, b) => a + b, 0)).toBe(FIRST_BATCH);
    for (const n of perWorker) expect(n).toBeGreaterThan(0);
  }, 30_000);

  test('posts over the post channel (a WebSocket through the proxy) reach both subscribers like POSTs', async () => {
    const ch = new WebSocket(`${topology().proxyUrl.replace(/^http/, 'ws')}/room/${ROOM}`);
    const answers = new Map<number, { id?: string; error?: string }>();
    ch.on('message', (raw) => {
      const a = JSON.parse(String(raw)) as { n?: number; id?: string; error?: string };
      if (a.n !== undefined) answers.set(a.n, a);
    });
    await new Promise<void>((resolve, reject) => {
      ch.once('open', () => resolve());
      ch.once('error', reject);
    });
    try {
      const path = `/room/${ROOM}`;
      for (let n = 0; n < 3; n++) {
        const text = `channel ${n} ${randomBytes(4).toString('hex')}`;
        const q = await roomQuote(topology().proxyUrl, ROOM);
        const pow = solveProof({ token: q.token, work: q.work, method: 'POST', path, body: new TextEncoder().encode(text) }).header;
        ch.send(JSON.stringify({ n, pow, data: text }));
        await waitFor(() => answers.has(n), { timeoutMs: 10_000, message: `the answer to post ${n}` });
        const id = answers.get(n)?.id;
        expect([n, typeof id, answers.get(n)?.error]).toEqual([n, 'string', undefined]);
        posted.push({ text, id: id ?? '' });
      }
      for (const c of [s1, s2]) await c.until((x) => x.messages().length >= posted.length, 10_000, 'the channel posts');
      expectAll(s1.messages());
      expectAll(s2.messages());
    } finally {
      ch.close();
    }
  }, 30_000);

  test('every metric the Grafana dashboard queries is exported by a live service', async () => {
    const t = topology();
    const names = new Set<string>();
    for (const p of [t.api, t.dht, t.turn, ...t.rooms]) {
      const text = await (await fetch(`http://127.0.0.1:${p.opsPort}/metrics`)).text();
      for (const n of metricNamesFromExposition(text)) names.add(n);
    }
    const dashboard = readFileSync(join(process.cwd(), 'infra/grafana/dashboards/mesh-node.json'), 'utf8');
    expect(checkDashboardMetrics(dashboard, names)).toEqual([]);
  });

  test('stopping the worker holding the stream: the client resumes through the proxy on the other, missing nothing', async () => {
    expect(s1).toBeDefined();
    const before = posted.length;
    let posting = true;
    let postError: unknown;
    // Keeps posting, one at a time, through the drain and after it.
    const postLoop = (async () => {
      for (let i = 0; posting; i++) {
        try {
          await post(`during ${i} ${randomBytes(4).toString('hex')}`);
        } catch (err) {
          postError = err;
          return;
        }
      }
    })();

    try {
      await waitFor(() => posted.length >= before + 3, { timeoutMs: 10_000, message: 'posts before the stop' });
      holder.child.signal('SIGTERM');
      await s1.ended;
      expect(s1.endedByServer).toBe(true);
      const seenBeforeCut = s1.messages().length;

      // What EventSource does when the stream ends: wait `retry`, reconnect with Last-Event-ID.
      await new Promise((r) => setTimeout(r, s1.retry ?? 2000));
      const resumed = await subscribe(s1.lastEventId);
      expect(resumed.status).toBe(200);

      const exit = await holder.child.exited;
      expect(exit).toEqual({ code: 0, signal: null });
      const postedAtExit = posted.length;
      await waitFor(() => posted.length >= postedAtExit + 5 || postError !== undefined, {
        timeoutMs: 10_000, message: 'posts after the worker exited',
      });
      posting = false;
      await postLoop;
      expect(postError).toBeUndefined();

      // Posts kept being accepted after the exit (above); both subscribers are now on the survivor.
      expect(await streamsOpen(survivor)).toBe(2);

      const total = posted.length;
      await resumed.until((c) => seenBeforeCut + c.messages().length >= total, 10_000, 'every message after the resume');
      await s2.until((c) => c.messages().length >= total, 10_000, 'every message on the other subscriber');
      // Exactly once and in order across the cut: what s1 saw, then what the resumed stream saw.
      expectAll([...s1.messages(), ...resumed.messages()]);
      expectAll(s2.messages());
      expect(posted.length).toBeGreaterThan(before + 8);
    } catch (err) {
      posting = false;
      await postLoop;
      throw new Error(`${String(err)}\nrefused post attempts: ${JSON.stringify(refusals)}\n${topology().diagnostics()}`, { cause: err });
    }
  }, 45_000);
});

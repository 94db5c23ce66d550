import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { waitFor } from '@mesh/shared/testing';
import {
  ChannelClient, metricValue, postMessage, postOk, randomRoom, roomQuote, startWorker,
  type Backends, type Worker, type Wiring,
} from './harness.js';
import { SseClient } from '@mesh/shared/testing';

/** Errors of a refused stream come as JSON when JSON is acceptable too. */
const JSON_TOO = { Accept: 'text/event-stream, application/json' };

/**
 * The behaviour of `/room/<hash>` (PROTOCOL.md), written once and run
 * against each wiring: two workers sharing one bus and one store.
 */
export function roomsBehaviour(wiring: Wiring): void {
  describe(`rooms on two workers: ${wiring.name}`, () => {
    let backends: Backends;
    let a: Worker;
    let b: Worker;
    const clients: SseClient[] = [];
    const extraWorkers: Worker[] = [];
    const channels: ChannelClient[] = [];

    async function channel(url: string, hash: string, query = '', headers: Record<string, string> = {}): Promise<ChannelClient> {
      const c = await ChannelClient.open(url, hash, query, headers);
      channels.push(c);
      return c;
    }

    async function sse(url: string, hash: string, opts: Parameters<typeof SseClient.connect>[1] = {}): Promise<SseClient> {
      const c = await SseClient.connect(`${url}/room/${hash}`, opts);
      clients.push(c);
      return c;
    }

    /** A stream is usable once its price event arrived (headers, retry and price are written at once). */
    async function subscribed(url: string, hash: string, opts: Parameters<typeof SseClient.connect>[1] = {}): Promise<SseClient> {
      const c = await sse(url, hash, opts);
      await c.until((x) => x.ofType('price').length > 0, 5000, 'the price event');
      return c;
    }

    beforeAll(async () => {
      backends = await wiring.backends('rooms');
      a = await startWorker(backends);
      b = await startWorker(backends);
    });

    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      for (const c of channels) c.close();
      for (const w of [a, b, ...extraWorkers]) await w?.stop();
      await backends?.close();
    });

    test('bad hashes get 400 before anything else', async () => {
      const bad = ['', 'abc', 'A'.repeat(40), 'g'.repeat(40), '0'.repeat(39), '0'.repeat(41), '0'.repeat(63),
        '0'.repeat(65), `${'0'.repeat(39)}%20`, '..%2F..%2Fetc'];
      for (const h of bad) {
        for (const accept of ['application/json', 'text/event-stream']) {
          const res = await fetch(`${a.url}/room/${h}`, { headers: { Accept: accept } });
          expect([h, accept, res.status]).toEqual([h, accept, 400]);
          const body = (await res.json().catch(() => null)) as { error?: string } | null;
          if (accept === 'application/json') expect(body?.error).toBe('bad_request');
        }
        const post = await fetch(`${a.url}/room/${h}`, {
          method: 'POST', headers: { Accept: 'application/json' }, body: 'hi',
        });
        expect(post.status).toBe(400);
      }
      // 40 and 64 lower-case hex are fine.
      for (const h of [randomRoom(20), randomRoom(32)]) {
        expect((await fetch(`${a.url}/room/${h}`, { headers: { Accept: 'application/json' } })).status).toBe(200);
      }
      expect(a.service.streamCount).toBe(0);
    });

    test('other methods get 405; a browser gets the price as a page', async () => {
      const hash = randomRoom();
      const put = await fetch(`${a.url}/room/${hash}`, { method: 'PUT', headers: { Accept: 'application/json' }, body: 'x' });
      expect(put.status).toBe(405);
      expect(await put.json()).toMatchObject({ error: 'method_not_allowed' });
      const page = await fetch(`${a.url}/room/${hash}`, { headers: { Accept: 'text/html' } });
      expect(page.status).toBe(200);
      expect(page.headers.get('content-type')).toMatch(/^text\/html/);
      expect(await page.text()).toContain(hash);
    });

    test('a malformed Last-Event-ID gets 400', async () => {
      const hash = randomRoom();
      const r = await SseClient.open(`${a.url}/room/${hash}`, { lastEventId: 'nope', headers: JSON_TOO });
      expect(r).toMatchObject({ status: 400, body: { error: 'bad_request' } });
      const q = await SseClient.open(`${a.url}/room/${hash}?lastEventId=1-2-3`);
      expect(q).toMatchObject({ status: 400 });
    });

    test('JSON GET answers the room price; the stream starts with headers, retry and price', async () => {
      const hash = randomRoom(32);
      const q = await roomQuote(a.url, hash);
      expect(q).toMatchObject({ hash, work: 16, difficulty: 4 });
      expect(q.token).toMatch(/^v1\.\d+\./);

      const c = await subscribed(a.url, hash);
      expect(c.headers.get('content-type')).toBe('text/event-stream');
      expect(c.headers.get('cache-control')).toBe('no-cache, no-transform');
      expect(c.headers.get('x-accel-buffering')).toBe('no');
      expect(c.headers.get('access-control-allow-origin')).toBe('*');
      expect(c.retry).toBe(2000);
      const price = JSON.parse(c.events[0]?.data ?? '{}') as Record<string, unknown>;
      expect(c.events[0]?.event).toBe('price');
      expect(price).toEqual({ token: q.token, work: 16, difficulty: 4 });
    });

    test('a post on worker B reaches subscribers on A and B once, multi-line bodies framed verbatim', async () => {
      const hash = randomRoom();
      const onA = await subscribed(a.url, hash);
      const onA2 = await subscribed(a.url, hash);
      const onB = await subscribed(b.url, hash);
      const body = 'line one\nline two\r\n  indented\rid: 999-0\n\nevent: evil\ndata: injected\n';
      const id = await postOk(b.url, hash, body);
      expect(id).toMatch(/^\d+-\d+$/);
      const marker = await postOk(a.url, hash, 'marker');
      for (const c of [onA, onA2, onB]) {
        await c.until((x) => x.messages().some((m) => m.data === 'marker'), 5000, 'the marker');
        const msgs = c.messages();
        expect(msgs.map((m) => m.lastEventId)).toEqual([id, marker]);
        // SSE turns every line break into LF; everything else arrives as posted.
        expect(msgs[0]?.data).toBe(body.replace(/\r\n|\r/g, '\n'));
        expect(c.ofType('evil')).toEqual([]);
      }
      expect(await metricValue(b.metrics, 'mesh_room_messages_accepted_total')).toBe(1);
      expect(await metricValue(a.metrics, 'mesh_room_messages_delivered_total')).toBeGreaterThanOrEqual(4);
      expect(await metricValue(a.metrics, 'mesh_room_fanout_seconds_count')).toBeGreaterThanOrEqual(4);
      expect(await metricValue(b.metrics, 'mesh_pow_outcomes_total', { endpoint: 'room', outcome: 'accepted' })).toBe(1);
    });

    test("a post naming its peer id is not echoed to that peer's streams, on either worker; everyone else gets it", async () => {
      const hash = randomRoom();
      const me = 'ab'.repeat(8);
      const mineOnA = await subscribed(a.url, `${hash}?peer=${me}`);
      const mineOnB = await subscribed(b.url, `${hash}?peer=${me}`);
      const otherPeer = await subscribed(a.url, `${hash}?peer=${'cd'.repeat(16)}`);
      const untagged = await subscribed(b.url, hash);
      const own = await postOk(b.url, hash, 'from me', { peer: me });
      const marker = await postOk(a.url, hash, 'marker');
      for (const c of [mineOnA, mineOnB, otherPeer, untagged]) {
        await c.until((x) => x.messages().some((m) => m.data === 'marker'), 5000, 'the marker');
      }
      for (const c of [mineOnA, mineOnB]) expect(c.messages().map((m) => m.lastEventId)).toEqual([marker]);
      for (const c of [otherPeer, untagged]) expect(c.messages().map((m) => m.lastEventId)).toEqual([own, marker]);
      // A resume replays history as it is: the own post too (history keeps no poster).
      const resumed = await subscribed(a.url, `${hash}?peer=${me}`, { lastEventId: '0-0' });
      await resumed.until((x) => x.messages().some((m) => m.data === 'marker'), 5000, 'the replay');
      expect(resumed.messages().map((m) => m.data)).toEqual(['from me', 'marker']);
    });

    test('a malformed peer id gets 400, on streams and posts', async () => {
      const hash = randomRoom();
      const streamsBefore = a.service.streamCount;
      for (const bad of ['ab', 'AB'.repeat(8), 'g'.repeat(16), 'a'.repeat(65), 'ab'.repeat(8) + '-x']) {
        const res = await fetch(`${a.url}/room/${hash}?peer=${bad}`, { headers: JSON_TOO });
        expect([bad, res.status]).toEqual([bad, 400]);
        expect(await res.json()).toMatchObject({ error: 'bad_request' });
        const post = await postMessage(a.url, hash, 'x', { peer: decodeURIComponent(bad) });
        expect([bad, post.status, post.body['error']]).toEqual([bad, 400, 'bad_request']);
      }
      const twice = await fetch(`${a.url}/room/${hash}?peer=${'ab'.repeat(8)}&peer=${'ab'.repeat(8)}`, { headers: JSON_TOO });
      expect(twice.status).toBe(400);
      expect(a.service.streamCount).toBe(streamsBefore);
    });

    test('post channel: a frame is a paid post, answered by its n, delivered like a POST on both workers (no echo to its peer)', async () => {
      const hash = randomRoom();
      const me = 'ef'.repeat(8);
      const mine = await subscribed(a.url, `${hash}?peer=${me}`);
      const onA = await subscribed(a.url, hash);
      const onB = await subscribed(b.url, hash);
      const ch = await channel(b.url, hash, `?peer=${me}`);
      expect(b.service.channelCount).toBe(1);
      const first = await ch.post(1, 'over the channel\nsecond line');
      expect(first).toEqual({ n: 1, id: expect.stringMatching(/^\d+-\d+$/) });
      const viaPost = await postOk(a.url, hash, 'plain post');
      const third = await ch.post(2, 'again');
      for (const c of [onA, onB]) {
        await c.until((x) => x.messages().length === 3, 5000, 'three messages');
        expect(c.messages().map((m) => [m.lastEventId, m.data])).toEqual([
          [first['id'], 'over the channel\nsecond line'], [viaPost, 'plain post'], [third['id'], 'again'],
        ]);
      }
      expect(mine.messages().map((m) => m.data)).toEqual(['plain post']);
      expect(await metricValue(b.metrics, 'mesh_room_messages_accepted_total')).toBeGreaterThanOrEqual(2);
    });

    test('post channel: the rules of POST, as answers; binary frames close it; bad upgrades are plain HTTP errors', async () => {
      const w = await startWorker(backends);
      extraWorkers.push(w);
      const hash = randomRoom();
      const ch = await channel(w.url, hash);
      expect(await (ch.send({ n: 1, data: 'no proof' }), ch.answer(1))).toMatchObject({ n: 1, error: 'pow_required', token: expect.any(String) });
      const q = await roomQuote(w.url, hash);
      const body = 'paid once';
      const { solveProof } = await import('@mesh/shared');
      const proof = solveProof({ token: q.token, work: q.work, method: 'POST', path: `/room/${hash}`, body: Buffer.from(body) }).header;
      expect(await ch.post(2, body, proof)).toMatchObject({ n: 2, id: expect.any(String) });
      // The same proof again: on the channel, and as a plain POST.
      expect(await ch.post(3, body, proof)).toMatchObject({ n: 3, error: 'pow_replayed' });
      expect((await postMessage(w.url, hash, body, { proof })).body).toMatchObject({ error: 'pow_replayed' });
      expect(await ch.post(4, '')).toMatchObject({ n: 4, error: 'bad_request' });
      expect(await ch.post(5, 'x'.repeat(1025))).toMatchObject({ n: 5, error: 'payload_too_large' });
      ch.send('{"n": 6, "data": ');
      expect(await ch.answer(6)).toMatchObject({ n: 6, error: 'bad_request' });
      ch.send({ n: 7, data: 5 });
      expect(await ch.answer(7)).toMatchObject({ n: 7, error: 'bad_request' });
      // Without n: no receipt when accepted (the message still arrives), an answer without n when refused.
      const quietHash = hash;
      const listener = await subscribed(w.url, quietHash);
      const before = ch.answers.length;
      const q2 = await roomQuote(w.url, quietHash);
      ch.send({ pow: solveProof({ token: q2.token, work: q2.work, method: 'POST', path: `/room/${quietHash}`, body: Buffer.from('quiet') }).header, data: 'quiet' });
      ch.send({ data: 'unpaid and quiet' });
      await listener.until((x) => x.messages().some((m) => m.data === 'quiet'), 5000, 'the quiet post');
      await ch.until(() => ch.answers.length > before, 5000, 'the refusal');
      expect(await ch.post(8, 'marker')).toMatchObject({ n: 8, id: expect.any(String) });
      expect(ch.answers.slice(before)).toEqual([
        expect.objectContaining({ error: 'pow_required' }), expect.objectContaining({ n: 8 }),
      ]);
      expect(ch.answers[before]).not.toHaveProperty('n');
      ch.send(Buffer.from([1, 2, 3]));
      await ch.until(() => ch.closed !== undefined, 5000, 'close');
      expect(ch.closed?.code).toBe(1003);
      await waitFor(() => w.service.channelCount === 0, { message: 'channel slot freed' });

      await expect(ChannelClient.open(w.url, 'A'.repeat(40))).rejects.toThrow(/^refused 400 .*bad_request/);
      await expect(ChannelClient.open(w.url, hash, '?peer=xyz')).rejects.toThrow(/^refused 400 .*bad_request/);
      await expect(ChannelClient.open(w.url, `${hash}/x`)).rejects.toThrow(/^refused 404/);
      const other = new (await import('ws')).WebSocket(`${w.url.replace(/^http/, 'ws')}/nodes`);
      const status = await new Promise<number>((resolve) => {
        other.once('unexpected-response', (_q, res) => resolve(res.statusCode ?? 0));
        other.once('open', () => resolve(101));
        other.once('error', () => resolve(-1));
      });
      expect(status).toBe(404);
    });

    test('post channel: capped per client and per worker like streams; closing frees the slot', async () => {
      const w = await startWorker(backends, { ROOM_MAX_PER_IP: '2', ROOM_MAX_STREAMS: '3' });
      extraWorkers.push(w);
      const hash = randomRoom();
      const as = (ip: string): Record<string, string> => ({ 'X-Forwarded-For': ip });
      await channel(w.url, hash, '', as('203.0.113.1'));
      const second = await channel(w.url, hash, '', as('203.0.113.1'));
      await expect(ChannelClient.open(w.url, hash, '', as('203.0.113.1'))).rejects.toThrow(/^refused 429 .*too_many_requests/);
      await channel(w.url, hash, '', as('203.0.113.2'));
      await expect(ChannelClient.open(w.url, hash, '', as('203.0.113.3'))).rejects.toThrow(/^refused 429/);
      second.close();
      await waitFor(() => w.service.channelCount === 2, { message: 'slot freed' });
      await channel(w.url, hash, '', as('203.0.113.3'));
    });

    test('post channel on the production rate limit: past the burst, frames are refused rate_limited and not read for the hold', async () => {
      const w = await startWorker(backends, { RATE_LIMIT_PER_SECOND: undefined });
      extraWorkers.push(w);
      const ch = await channel(w.url, randomRoom());
      // The upgrade took one token of the burst of 30; unpaid frames cost no hashing: the next 29 are each
      // refused for their missing proof, the 30th frame for the rate.
      for (let n = 0; n < 40; n++) ch.send({ n, data: 'x' });
      const limited = await ch.answer(29);
      const limitedAt = Date.now();
      expect(limited).toEqual({ n: 29, error: 'rate_limited', message: expect.any(String), retryAfter: 2 });
      for (let n = 0; n < 29; n++) expect(await ch.answer(n)).toMatchObject({ n, error: 'pow_required' });
      // Frames already received are refused too; what comes now is read once the 2 s hold is over.
      ch.send({ n: 100, data: 'x' });
      expect(await ch.answer(100, 10_000)).toMatchObject({ n: 100, error: 'pow_required' });
      expect(Date.now() - limitedAt).toBeGreaterThanOrEqual(1900);
      // What waited during the hold was not refused: one refusal per hold.
      for (let n = 30; n < 40; n++) expect(await ch.answer(n)).toMatchObject({ n, error: 'pow_required' });
      expect(ch.answers.filter((a) => a['error'] === 'rate_limited')).toHaveLength(1);
    });

    test('post channel on the production rate limit: upgrades take tokens too (429 rate_limited with Retry-After)', async () => {
      const w = await startWorker(backends, { RATE_LIMIT_PER_SECOND: undefined, ROOM_MAX_PER_IP: '64' });
      extraWorkers.push(w);
      const hash = randomRoom();
      for (let i = 0; i < 30; i++) await channel(w.url, hash);
      await expect(ChannelClient.open(w.url, hash)).rejects.toThrow(/^refused 429 .*rate_limited.* retry-after=2$/);
    });

    test('post channel: a client that sends past the waiting bound (ignoring backpressure) is closed 1008', async () => {
      const w = await startWorker(backends);
      extraWorkers.push(w);
      const ch = await channel(w.url, randomRoom());
      // One write of 2000 frames: far more than 16 in flight plus 64 waiting arrive before any is answered.
      for (let n = 0; n < 2000; n++) ch.send({ n, data: 'x' });
      await ch.until(() => ch.closed !== undefined, 10_000, 'close');
      expect(ch.closed).toEqual({ code: 1008, reason: 'too many posts in flight' });
      await waitFor(() => w.service.channelCount === 0, { message: 'channel freed' });
    });

    test('graceful stop closes post channels (going away)', async () => {
      const w = await startWorker(backends);
      extraWorkers.push(w);
      const ch = await channel(w.url, randomRoom());
      await w.stop();
      await ch.until(() => ch.closed !== undefined, 5000, 'close');
      expect(ch.closed?.code).toBe(1001);
    });

    test('the worker subscribes to a room while it has local subscribers only', async () => {
      const hash = randomRoom();
      const before = a.service.roomCount;
      const c1 = await subscribed(a.url, hash);
      const c2 = await subscribed(a.url, hash);
      expect(a.service.roomCount).toBe(before + 1);
      expect(await metricValue(a.metrics, 'mesh_rooms_active')).toBe(a.service.roomCount);
      await c1.close();
      await postOk(b.url, hash, 'still here');
      await c2.until((x) => x.messages().length === 1, 5000, 'a message after the first left');
      await c2.close();
      await waitFor(() => a.service.roomCount === before, { message: 'room released' });
      expect(await metricValue(a.metrics, 'mesh_sse_streams_open')).toBe(a.service.streamCount);
    });

    test('a subscriber that was away resumes on the other worker: every missed message once, in order', async () => {
      const hash = randomRoom();
      const first = await subscribed(a.url, hash);
      const seen = await postOk(a.url, hash, 'm0');
      await first.until((x) => x.messages().length === 1);
      expect(first.lastEventId).toBe(seen);
      await first.close();

      // Missed while away, posted on both workers.
      const missed: string[] = [];
      for (let i = 1; i <= 6; i++) missed.push(await postOk(i % 2 === 0 ? a.url : b.url, hash, `m${i}`));

      // Reconnect to B while more messages arrive: they race the history replay.
      const racing = Array.from({ length: 6 }, (_, i) => postOk(i % 2 === 0 ? a.url : b.url, hash, `r${i}`));
      const back = await subscribed(b.url, hash, { lastEventId: first.lastEventId });
      const racedIds = await Promise.all(racing);
      const after = await postOk(a.url, hash, 'live');

      await back.until((x) => x.messages().some((m) => m.lastEventId === after), 8000, 'the live message');
      const ids = back.messages().map((m) => m.lastEventId);
      const expected = [...missed, ...racedIds, after];
      expect(new Set(ids).size).toBe(ids.length);
      expect([...ids].sort()).toEqual([...expected].sort());
      // Replayed history comes strictly in id order. (Live messages posted on two workers at
      // once may cross on the bus; each still arrives once.)
      expect(ids.slice(0, missed.length)).toEqual(missed);
      expect(back.messages().slice(0, 6).map((m) => m.data)).toEqual(['m1', 'm2', 'm3', 'm4', 'm5', 'm6']);
    });

    test('lastEventId in the query resumes too', async () => {
      const hash = randomRoom();
      const m1 = await postOk(a.url, hash, 'one');
      const m2 = await postOk(b.url, hash, 'two');
      const c = await subscribed(a.url, `${hash}?lastEventId=${m1}`);
      await c.until((x) => x.messages().length === 1);
      expect(c.messages().map((m) => [m.lastEventId, m.data])).toEqual([[m2, 'two']]);
    });

    test('an honest resume after 40 line-feed posts arrives whole (a line break weighs its frame, 7 bytes)', async () => {
      const hash = randomRoom();
      const honest = await subscribed(a.url, hash);
      const seen = await postOk(a.url, hash, 'before');
      await honest.until((x) => x.messages().length === 1);
      await honest.close();
      const slowBefore = await metricValue(b.metrics, 'mesh_room_streams_dropped_total', { reason: 'slow' });

      // 1 KB of line feeds would frame to 7 KB: refused. The heaviest accepted: 146 LFs (1022).
      expect(await postMessage(a.url, hash, '\n'.repeat(1024))).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
      expect(await postMessage(a.url, hash, '\n'.repeat(147))).toMatchObject({ status: 413 });
      const flood = '\n'.repeat(146);
      const ids: string[] = [];
      for (let i = 0; i < 40; i++) ids.push(await postOk(i % 2 === 0 ? a.url : b.url, hash, flood));

      const back = await subscribed(b.url, hash, { lastEventId: seen });
      await back.until((x) => x.messages().length === 40, 8000, 'the 40 replayed posts');
      expect(back.messages().map((m) => m.lastEventId)).toEqual(ids);
      expect(back.messages().every((m) => m.data === flood)).toBe(true);
      expect(back.endedByServer).toBe(false);
      expect(await metricValue(b.metrics, 'mesh_room_streams_dropped_total', { reason: 'slow' })).toBe(slowBefore);
    });

    test('bodies: 1024 bytes of UTF-8 accepted, 1025 bytes 413, not UTF-8 415, empty 400', async () => {
      const hash = randomRoom();
      const c = await subscribed(b.url, hash);
      const max = 'é'.repeat(512); // 1024 bytes
      expect(Buffer.byteLength(max)).toBe(1024);
      expect((await postMessage(a.url, hash, max)).status).toBe(202);
      await c.until((x) => x.messages().length === 1);
      expect(c.messages()[0]?.data).toBe(max);

      const big = await postMessage(a.url, hash, 'x'.repeat(1025));
      expect(big).toMatchObject({ status: 413, body: { error: 'payload_too_large' } });
      const latin1 = await postMessage(a.url, hash, Buffer.from([0x63, 0x61, 0x66, 0xe9]));
      expect(latin1).toMatchObject({ status: 415, body: { error: 'unsupported_media_type' } });
      const empty = await postMessage(a.url, hash, '');
      expect(empty).toMatchObject({ status: 400, body: { error: 'bad_request' } });
      expect(c.messages().length).toBe(1);
    });

    test('proofs: missing 402 pow_required, replayed 402 pow_replayed (on either worker)', async () => {
      const hash = randomRoom();
      const missing = await fetch(`${a.url}/room/${hash}`, {
        method: 'POST', headers: { Accept: 'application/json' }, body: 'hello',
      });
      expect(missing.status).toBe(402);
      expect(await missing.json()).toMatchObject({ error: 'pow_required', work: 16, difficulty: 4 });

      const ok = await postMessage(a.url, hash, 'hello');
      expect(ok.status).toBe(202);
      for (const w of [a, b]) {
        const again = await postMessage(w.url, hash, 'hello', { proof: ok.proof });
        expect(again.status).toBe(402);
        expect(again.body).toMatchObject({ error: 'pow_replayed' });
        expect(typeof again.body['token']).toBe('string');
        expect(typeof again.body['work']).toBe('number');
      }
      expect(await metricValue(a.metrics, 'mesh_pow_outcomes_total', { endpoint: 'room', outcome: 'pow_replayed' })).toBe(1);
    });

    test('the room price rises with its traffic (streams told by event: price) and falls back after the window', async () => {
      // Two workers whose room price moves fast: POW_ROOM_FREE = 2.
      const pa = await startWorker(backends, { POW_ROOM_FREE: '2' });
      const pb = await startWorker(backends, { POW_ROOM_FREE: '2' });
      extraWorkers.push(pa, pb);
      const hash = randomRoom();
      const other = randomRoom();
      const c = await subscribed(pa.url, hash);
      expect(JSON.parse(c.events[0]?.data ?? '{}')).toMatchObject({ work: 16 });
      for (let i = 0; i < 4; i++) await postOk(i % 2 === 0 ? pa.url : pb.url, hash, `p${i}`);
      // m = 4, POW_ROOM_FREE = 2: work = 16 * (1 + 4/2) = 48, on every worker.
      expect((await roomQuote(pb.url, hash)).work).toBe(48);
      expect((await roomQuote(pa.url, other)).work).toBe(16);
      await c.until((x) => x.ofType('price').some((e) => (JSON.parse(e.data) as { work: number }).work === 48), 5000, 'price 48');

      backends.passWindow();
      await c.until((x) => {
        const prices = x.ofType('price');
        return (JSON.parse(prices[prices.length - 1]?.data ?? '{}') as { work?: number }).work === 16;
      }, 8000, 'the price back at 16');
      expect((await roomQuote(pb.url, hash)).work).toBe(16);
    });

    test('keep-alive comments', async () => {
      const w = await startWorker(backends, { ROOM_KEEPALIVE_MS: '100' });
      extraWorkers.push(w);
      const c = await subscribed(w.url, randomRoom());
      await c.until((x) => x.comments >= 2, 3000, 'two keep-alive comments');
    });

    test('caps: per client IP and per worker give 429', async () => {
      const w = await startWorker(backends, { ROOM_MAX_PER_IP: '2', ROOM_MAX_STREAMS: '3' });
      extraWorkers.push(w);
      const hash = randomRoom();
      const as = (ip: string) => ({ headers: { 'X-Forwarded-For': ip, ...JSON_TOO } });
      await subscribed(w.url, hash, as('203.0.113.1'));
      await subscribed(w.url, hash, as('203.0.113.1'));
      const third = await SseClient.open(`${w.url}/room/${hash}`, as('203.0.113.1'));
      expect(third).toMatchObject({ status: 429 });
      await subscribed(w.url, hash, as('203.0.113.2'));
      const overWorker = await SseClient.open(`${w.url}/room/${hash}`, as('203.0.113.3'));
      expect(overWorker).toMatchObject({ status: 429, body: { error: 'too_many_requests' } });
      // A closed stream frees its slot.
      const last = clients[clients.length - 1];
      await last?.close();
      await waitFor(() => w.service.streamCount === 2, { message: 'slot freed' });
      await subscribed(w.url, hash, as('203.0.113.3'));
    });

    test('a reader that stops reading is dropped (slow) instead of growing memory', async () => {
      const w = await startWorker(backends, { ROOM_MAX_BUFFER_BYTES: '65536' });
      extraWorkers.push(w);
      const hash = randomRoom();
      const port = Number(new URL(w.url).port);
      const sock = connect(port, '127.0.0.1');
      sock.write(`GET /room/${hash} HTTP/1.0\r\nAccept: text/event-stream\r\n\r\n`);
      sock.pause(); // never reads: the kernel buffers fill, then the worker's own buffer
      const closed = new Promise<void>((resolve) => sock.once('close', () => resolve()));
      sock.on('error', () => undefined);
      await waitFor(() => w.service.streamCount === 1, { message: 'stream open' });
      await waitFor(() => w.service.roomCount === 1, { message: 'room subscribed' });
      // Straight onto the bus (as another worker would): far more than any socket buffers.
      const publisher = await backends.bus();
      const body = 'z'.repeat(1000);
      let n = 0;
      try {
        await waitFor(async () => {
          for (let i = 0; i < 2000; i++, n++) {
            publisher.publish(`rooms.${hash}`, Buffer.from(JSON.stringify({ id: `${n + 1}-0`, data: body, at: Date.now() })));
          }
          await new Promise((r) => setImmediate(r));
          return (await metricValue(w.metrics, 'mesh_room_streams_dropped_total', { reason: 'slow' })) === 1;
        }, { timeoutMs: 20_000, intervalMs: 50, message: 'the slow reader dropped' });
      } finally {
        await publisher.close();
      }
      await waitFor(() => w.service.streamCount === 0 && w.service.roomCount === 0, { message: 'stream cleaned up' });
      sock.resume();
      await closed;
      expect(n).toBeLessThan(200_000);
    });

    test('graceful stop: new streams 503, open streams end, clients resume on another worker', async () => {
      const w = await startWorker(backends);
      extraWorkers.push(w);
      const hash = randomRoom();
      const c = await subscribed(w.url, hash);
      const id1 = await postOk(a.url, hash, 'before');
      await c.until((x) => x.messages().length === 1);

      const stopping = w.stop();
      await c.ended;
      expect(c.endedByServer).toBe(true);
      await stopping;
      expect(await metricValue(w.metrics, 'mesh_room_streams_dropped_total', { reason: 'shutdown' })).toBe(1);
      expect(await w.service.ready?.()).toBe(false);
      const id2 = await postOk(b.url, hash, 'while away');
      const back = await subscribed(a.url, hash, { lastEventId: c.lastEventId });
      await back.until((x) => x.messages().length === 1);
      expect(c.lastEventId).toBe(id1);
      expect(back.messages().map((m) => m.lastEventId)).toEqual([id2]);
    });

    test('stopping refuses new streams with 503', async () => {
      const w = await startWorker(backends);
      extraWorkers.push(w);
      await w.service.stop();
      const r = await SseClient.open(`${w.url}/room/${randomRoom()}`, { headers: { Accept: 'text/event-stream, application/json' } });
      expect(r).toMatchObject({ status: 503 });
    });
  });
}

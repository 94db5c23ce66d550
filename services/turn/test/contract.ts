import { createSocket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { createLogger, createMetrics, turnCredentials, type Metrics } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import type { TurnBackend, TurnBackendDeps } from '../src/backend.js';
import { createTurnMetrics } from '../src/metrics.js';
import {
  ALLOCATE, CHANNEL_BIND, LIFETIME, REFRESH, REQUESTED_IPV6, REQUESTED_UDP, TurnTestClient, channelNumber, u32, xorPeerAddress,
} from './stun-client.js';
import { startPeer, stunclient, testTurnConfig, uclient, type UclientOptions } from './tools.js';

const SECRET = 'contract-test-secret-0123456789';

async function counter(metrics: Metrics, name: string): Promise<number> {
  const text = await metrics.text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.split(' ').pop());
  return sum;
}

/** Public addresses a relay must reach, and every special-purpose kind it must refuse (CreatePermission sends nothing to them). */
const PUBLIC_V4 = ['8.8.8.8', '1.1.1.1', '93.184.215.14'];
const PUBLIC_V6 = ['2606:4700:4700::1111', '2a00:1450:4001::1', '::ffff:8.8.8.8'];
const REFUSED_V4 = [
  '127.0.0.1', '127.1.2.3', '0.0.0.0', '10.0.0.1', '172.16.0.1', '192.168.1.1', '169.254.1.1', '169.254.169.254',
  '100.64.0.1', '224.0.0.1', '255.255.255.255', '192.0.2.1', '198.18.0.1',
];
const REFUSED_V6 = [
  '::1', '::', '::ffff:127.0.0.1', '::ffff:0:127.0.0.1', '::127.0.0.1', '::ffff:10.0.0.1', '::ffff:169.254.169.254',
  '64:ff9b::a9fe:a9fe', '64:ff9b::7f00:1', 'fd00::2', 'fc00::1', 'fe80::1', 'fec0::1', 'ff02::1', '2001:db8::1', '2002:7f00:1::1',
];
/** Stand-ins for the node's own public addresses (TURN_PUBLIC_HOST): public, so only the self-block refuses them. */
const OWN_V4 = '9.9.9.9';
const OWN_V6 = '2620:fe::fe';

/**
 * One suite, every backend (STYLE.md): coturn's own client tools against a
 * backend on loopback, with credentials from turnCredentials() as /token
 * hands them out. `open` allow-lists 127.0.0.1 (where turnutils_peer runs),
 * `closed` has no allow-list and must refuse that same peer.
 */
export function runTurnContract(name: string, make: (d: TurnBackendDeps) => TurnBackend): void {
  describe(`${name} backend`, () => {
    let open: TurnBackend;
    let closed: TurnBackend;
    let openPort = 0;
    let closedPort = 0;
    let peer: Awaited<ReturnType<typeof startPeer>>;
    const metrics = createMetrics({ service: 'turn', defaultMetrics: false });
    const log = createLogger({ level: 'silent', service: 'turn' });
    const creds = () => turnCredentials({ secret: SECRET, ttlSeconds: 600, nowSeconds: Date.now() / 1000, urls: [] });
    const run = (port: number, over: Partial<UclientOptions> = {}) => {
      const c = creds();
      return uclient({ port, username: c.username, password: c.credential, peerPort: peer.port, ...over });
    };

    beforeAll(async () => {
      const turnMetrics = createTurnMetrics(metrics);
      const openCfg = await testTurnConfig({ allowedPeers: ['127.0.0.1/32'] });
      const closedCfg = await testTurnConfig();
      open = make({ config: openCfg, secret: SECRET, log, metrics: turnMetrics });
      closed = make({ config: closedCfg, secret: SECRET, log, metrics: turnMetrics });
      openPort = openCfg.port;
      closedPort = closedCfg.port;
      [peer] = await Promise.all([startPeer(), open.start(), closed.start()]);
    }, 30_000);

    afterAll(async () => {
      await Promise.all([open?.stop(), closed?.stop(), peer?.stop()]);
    });

    test('STUN binding answers the mapped address', async () => {
      expect(await stunclient(openPort)).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(open.stats().running).toBe(true);
    });

    test('relays over channels (uclient default, REFRESH after ALLOCATE) with zero loss, and counts the bytes', async () => {
      const bytes = (direction: string) => counter(metrics, `mesh_turn_relayed_bytes_total{direction="${direction}"`);
      const [toPeer, toClient] = [await bytes('to_peer'), await bytes('to_client')];
      const r = await run(openPort, { messages: 100, sessions: 4 });
      expect(r.exitCode).toBe(0);
      expect(r.sent).toBe(400);
      expect(r.received).toBe(r.sent);
      expect(r.lostPercent).toBe(0);
      expect(open.stats().allocations).toBeGreaterThan(0);
      // 400 messages each way, at least 100 bytes each (coturn reports when the sessions end).
      await waitFor(async () => (await bytes('to_peer')) - toPeer >= 40_000 && (await bytes('to_client')) - toClient >= 40_000,
        { timeoutMs: 15_000, message: 'relayed bytes counted both ways' });
    });

    test('a REFRESH in the middle of relayed traffic keeps the allocation: nothing lost before or after', async () => {
      const echo = createSocket('udp4');
      await new Promise<void>((resolve) => echo.bind(0, '127.0.0.1', resolve));
      echo.on('message', (m, from) => echo.send(m, from.port, from.address));
      const cr = creds();
      const c = new TurnTestClient(openPort, cr.username, cr.credential);
      try {
        expect((await c.authed(ALLOCATE, [REQUESTED_UDP])).cls).toBe(2);
        const channel = 0x4001;
        expect((await c.request(CHANNEL_BIND, [channelNumber(channel), xorPeerAddress('127.0.0.1', echo.address().port)])).cls).toBe(2);
        const echoed = new Set<string>();
        c.onChannelData((ch, data) => { if (ch === channel) echoed.add(data.toString()); });
        const burst = async (from: number): Promise<void> => {
          for (let i = from; i < from + 50; i++) c.sendChannel(channel, Buffer.from(`message ${i}`));
          await waitFor(() => echoed.size >= from + 50, { timeoutMs: 10_000, message: `echoes up to ${from + 50}` });
        };
        await burst(0);
        const refreshed = await c.request(REFRESH, [[LIFETIME, u32(600)]]);
        expect(refreshed.cls).toBe(2);
        await burst(50);
        expect(echoed.size).toBe(100);
        expect((await c.request(REFRESH, [[LIFETIME, u32(0)]])).cls).toBe(2);
      } finally {
        c.close();
        echo.close();
      }
    });

    test('relays with Send indications with zero loss', async () => {
      const r = await run(openPort, { messages: 100, sessions: 4, send: true });
      expect(r.exitCode).toBe(0);
      expect(r.sent).toBe(400);
      expect(r.received).toBe(r.sent);
      expect(r.lostPercent).toBe(0);
    });

    test('EVEN-PORT allocations (uclient with RTCP) succeed', async () => {
      const r = await run(openPort, { messages: 20, rtcp: true });
      expect(r.exitCode).toBe(0);
      expect(r.received).toBe(r.sent);
      expect(r.sent).toBe(40); // 20 RTP + 20 RTCP
    });

    test('wrong, expired and forged credentials are refused', async () => {
      const before = await counter(metrics, 'mesh_turn_auth_failures_total');
      const good = creds();
      const wrong = await uclient({ port: openPort, username: good.username, password: 'not-the-credential', peerPort: peer.port, messages: 5 });
      const past = turnCredentials({ secret: SECRET, ttlSeconds: 60, nowSeconds: Date.now() / 1000 - 120, urls: [] });
      const expired = await uclient({ port: openPort, username: past.username, password: past.credential, peerPort: peer.port, messages: 5 });
      // Forged: a later expiry reusing a valid credential.
      const [, id] = good.username.split(':');
      const forged = await uclient({ port: openPort, username: `${Math.floor(Date.now() / 1000) + 7200}:${id}`, password: good.credential, peerPort: peer.port, messages: 5 });
      for (const r of [wrong, expired, forged]) {
        expect(r.exitCode).not.toBe(0);
        expect(r.received).toBe(0);
      }
      expect(await counter(metrics, 'mesh_turn_auth_failures_total')).toBeGreaterThan(before);
    });

    describe('production peer policy (no allow list): CreatePermission', () => {
      const servers: TurnBackend[] = [];
      let v4Port = 0;
      let v4: TurnTestClient;
      let v6: TurnTestClient;
      const outcome = async (c: TurnTestClient, ip: string): Promise<string> => {
        const a = await c.createPermission(ip);
        return a.cls === 2 ? 'granted' : `refused ${a.code}`;
      };

      // Every line the servers log, from their start on: the log test reads them.
      const lines: { level: number; msg: string; coturn?: string }[] = [];
      const captured = createLogger({ level: 'debug', service: 'turn' }, { write: (l: string) => { lines.push(JSON.parse(l) as (typeof lines)[number]); } });

      beforeAll(async () => {
        const turnMetrics = createTurnMetrics(metrics);
        const cfg4 = await testTurnConfig({ publicHost: OWN_V4 });
        const cfg6 = await testTurnConfig({ listenHost: '::1', publicHost: OWN_V6 });
        expect([cfg4.allowedPeers, cfg6.allowedPeers]).toEqual([[], []]);
        for (const config of [cfg4, cfg6]) servers.push(make({ config, secret: SECRET, log: captured, metrics: turnMetrics }));
        await Promise.all(servers.map((s) => s.start()));
        const c = creds();
        v4Port = cfg4.port;
        v4 = new TurnTestClient(cfg4.port, c.username, c.credential, '127.0.0.1');
        v6 = new TurnTestClient(cfg6.port, c.username, c.credential, '::1');
        expect((await v4.authed(ALLOCATE, [REQUESTED_UDP])).cls).toBe(2);
        expect((await v6.authed(ALLOCATE, [REQUESTED_UDP, REQUESTED_IPV6])).cls).toBe(2);
      }, 30_000);

      afterAll(async () => {
        v4?.close();
        v6?.close();
        await Promise.all(servers.map((s) => s.stop()));
      });

      test('start-up, an allocation and a refused peer log no warning (coturn: its banner, 401s and refusals are debug)', async () => {
        const cr = creds();
        const c = new TurnTestClient(v4Port, cr.username, cr.credential);
        try {
          expect((await c.authed(ALLOCATE, [REQUESTED_UDP])).cls).toBe(2);
          expect((await c.createPermission('10.20.30.40')).code).toBe(403);
        } finally {
          c.close();
        }
        if (servers[0]?.name === 'coturn') {
          // coturn's lines arrive through a pipe: wait for the refusal's own line before judging.
          await waitFor(() => lines.some((l) => l.coturn?.includes('10.20.30.40') === true), { timeoutMs: 10_000, message: 'coturn logged the refusal' });
          const refusal = lines.filter((l) => l.coturn?.includes('error 403') === true && l.coturn.includes(cr.username));
          expect(refusal.length).toBe(1);
          expect(lines.filter((l) => l.coturn !== undefined).length).toBeGreaterThan(50);
        }
        expect(lines.filter((l) => l.level >= 40)).toEqual([]);
      });

      test.each(PUBLIC_V4)('IPv4 %s is granted', async (ip) => {
        expect(await outcome(v4, ip)).toBe('granted');
      });
      test.each(PUBLIC_V6)('IPv6 %s is granted', async (ip) => {
        expect(await outcome(v6, ip)).toBe('granted');
      });
      test.each([...REFUSED_V4, OWN_V4])('IPv4 %s is refused with 403', async (ip) => {
        expect(await outcome(v4, ip)).toBe('refused 403');
      });
      test.each([...REFUSED_V6, OWN_V6])('IPv6 %s is refused with 403', async (ip) => {
        expect(await outcome(v6, ip)).toBe('refused 403');
      });
    });

    test('peers at 127.0.0.1 and 10.x are refused without the allow-list', async () => {
      const loop = await run(closedPort, { messages: 10 });
      expect(loop.received).toBe(0);
      expect(loop.output).toMatch(/403/);
      const ten = await run(closedPort, { messages: 10, peer: '10.11.12.13' });
      expect(ten.received).toBe(0);
      expect(ten.output).toMatch(/403/);
      // The same peer through the allow-listed server works (previous tests), so the refusal is the deny list.
    });
  });
}

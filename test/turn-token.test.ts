import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { embeddedNode } from '@mesh/embedded';
import { launch, solveProof, type Launched } from '@mesh/shared';
import { freePort, waitFor } from '@mesh/shared/testing';
import { freePort as freeUdpTcpPort, startPeer, stunclient, uclient } from '../services/turn/test/tools.js';

// Issue "services/turn", must show: TURN credentials bought from the node's
// own /token over HTTP with proof of work work with coturn's client tools,
// on both backends.

interface Creds { urls: string[]; username: string; credential: string; ttl: number }

function hasCoturn(): boolean {
  try {
    execFileSync('sh', ['-c', 'command -v turnserver'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

async function authFailures(node: Launched): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${node.opsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) if (line.startsWith('mesh_turn_auth_failures_total')) sum += Number(line.split(' ').pop());
  return sum;
}

async function buyToken(url: string): Promise<Creds> {
  const refused = await fetch(`${url}/token`, { method: 'POST', headers: { accept: 'application/json' } });
  expect(refused.status).toBe(402);
  const { token, work } = (await refused.json()) as { token: string; work: number };
  const { header } = solveProof({ token, work, method: 'POST', path: '/token', body: new Uint8Array() });
  const paid = await fetch(`${url}/token`, { method: 'POST', headers: { accept: 'application/json', 'x-pow': header } });
  expect(paid.status).toBe(200);
  return (await paid.json()) as Creds;
}

// coturn is installed by `make test` (scripts/ensure-services.sh); without it
// `auto` would silently test node-turn twice, so its absence fails here.
test('coturn is installed for these tests', () => {
  expect(hasCoturn()).toBe(true);
});

describe.each(['coturn', 'node-turn'] as const)('%s backend, credentials from /token', (backend) => {
  let node: Launched;
  let url: string;
  let turnPort: number;
  let peer: Awaited<ReturnType<typeof startPeer>>;

  beforeAll(async () => {
    const port = await freePort();
    turnPort = await freeUdpTcpPort();
    const relayMin = 30000 + Math.floor(Math.random() * 90) * 100;
    url = `http://127.0.0.1:${port}`;
    node = await launch(embeddedNode, {
      PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url,
      METRICS_PORT: String(await freePort()), DHT_PORT: String(await freePort()), DHT_BOOTSTRAP: 'none',
      TURN_BACKEND: backend, TURN_PORT: String(turnPort), TURN_LISTEN_HOST: '127.0.0.1', TURN_PUBLIC_HOST: '127.0.0.1',
      TURN_RELAY_MIN_PORT: String(relayMin), TURN_RELAY_MAX_PORT: String(relayMin + 99),
      TURN_ALLOWED_PEERS: '127.0.0.1/32', POW_BASE_WORK: '16', LOG_LEVEL: 'silent',
    });
    peer = await startPeer();
  }, 30_000);

  afterAll(async () => {
    await node?.stop();
    await peer?.stop();
  });

  test('STUN binding on the TURN port answers the mapped address', async () => {
    expect(await stunclient(turnPort)).toMatch(/^127\.0\.0\.1:\d+$/);
  });

  test('bought credentials relay over channels and with Send indications, without loss', async () => {
    const creds = await buyToken(url);
    expect(creds.urls).toContain(`turn:127.0.0.1:${turnPort}?transport=udp`);
    expect(creds.username).toMatch(/^\d+:[A-Za-z0-9_-]+$/);
    for (const send of [false, true]) {
      const r = await uclient({
        port: turnPort, username: creds.username, password: creds.credential, peerPort: peer.port,
        messages: 50, sessions: 2, send,
      });
      expect({ send, sent: r.sent, received: r.received }).toEqual({ send, sent: 100, received: 100 });
    }
  });

  test('a forged credential or a username with a later expiry is refused', async () => {
    const creds = await buyToken(url);
    const before = await authFailures(node);
    const [expiry, id] = creds.username.split(':') as [string, string];
    const forged = await uclient({
      port: turnPort, username: creds.username, password: Buffer.from('x'.repeat(20)).toString('base64'),
      peerPort: peer.port, messages: 5, timeoutMs: 15_000,
    });
    expect(forged.received).toBe(0);
    const extended = await uclient({
      port: turnPort, username: `${Number(expiry) + 86400}:${id}`, password: creds.credential,
      peerPort: peer.port, messages: 5, timeoutMs: 15_000,
    });
    expect(extended.received).toBe(0);
    // Refused by authentication, not lost on the way.
    await waitFor(async () => (await authFailures(node)) >= before + 2, { timeoutMs: 5000, message: 'auth failures counted' });
  });
});

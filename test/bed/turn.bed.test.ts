import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { solveProof } from '@mesh/shared';
import { BED_PREFIX, PATH_ENV, createBed, parseUclientOutput, runIn, waitFor, type Bed, type ChildHandle } from '@mesh/shared/testing';
import { REPO_ROOT, startAgent, type AgentFetch } from '../support/bed/agent.js';

// Issue 12, must show: a real relay on the production policy (no allow list).
// A TURN client host, a node host per backend, and a peer host whose public
// looking address exists only inside the bed; the same peer host also holds a
// private address the node can reach on the link, and is refused there.

const PEER_PORT = 3480;
const PUBLIC_PEER = `${BED_PREFIX}.20`;
const PRIVATE_PEER = '10.99.0.5';
const BACKENDS = [{ backend: 'coturn', host: 'nc', octet: 10 }, { backend: 'node-turn', host: 'nn', octet: 11 }] as const;

interface Credentials {
  username: string;
  credential: string;
}

describe('TURN on the bed, production policy', () => {
  let bed: Bed;
  let fetchIn: AgentFetch;
  const dir = mkdtempSync(join(tmpdir(), 'turnbed-'));
  const children = new Map<number, ChildHandle>();

  beforeAll(async () => {
    bed = createBed([
      { name: 'tc', octets: [3] },
      ...BACKENDS.map((b) => ({ name: b.host, octets: [b.octet], onLinkRoutes: ['10.99.0.0/24'] })),
      { name: 'tp', octets: [20], extraAddresses: [`${PRIVATE_PEER}/24`] },
    ]);
    fetchIn = await startAgent(bed, 'tc', dir);
    for (const addr of [PUBLIC_PEER, PRIVATE_PEER]) {
      bed.spawn('tp', { name: `peer-${addr}`, command: 'turnutils_peer', args: ['-L', addr, '-p', String(PEER_PORT)], env: { PATH: PATH_ENV }, cwd: REPO_ROOT });
    }
    await waitFor(async () => {
      const { output } = await runIn(bed, 'tp', 'ss', ['-Hlun'], 5000);
      return output.includes(`${PUBLIC_PEER}:${PEER_PORT}`) && output.includes(`${PRIVATE_PEER}:${PEER_PORT}`);
    }, { timeoutMs: 10_000, intervalMs: 100, message: 'both echo peers bound' });
    for (const b of BACKENDS) {
      const url = `http://${BED_PREFIX}.${b.octet}:8080`;
      const child = bed.spawn(b.host, {
        name: `node-${b.backend}`, command: process.execPath, args: ['apps/embedded/dist/main.js'], cwd: REPO_ROOT,
        // An operator's settings: the public URL, no DHT here, and the backend under test. Policy and quotas at their defaults.
        env: { PATH: PATH_ENV, PUBLIC_URL: url, DHT_BOOTSTRAP: 'none', TURN_BACKEND: b.backend },
      });
      children.set(b.octet, child);
      await waitFor(async () => {
        if (!child.isRunning()) throw new Error(`node exited: ${child.output().slice(-3000)}`);
        const r = await fetchIn(`${url}/`, { timeoutMs: 1000 });
        return r.error === undefined && r.status === 200;
      }, { timeoutMs: 30_000, intervalMs: 100, message: `${b.backend} node answers` });
    }
  }, 90_000);

  afterAll(async () => {
    await bed?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  /** Buys TURN credentials from the node's /token, solving its proof of work here. */
  async function buy(octet: number): Promise<Credentials> {
    const url = `http://${BED_PREFIX}.${octet}:8080/token`;
    let paid = await fetchIn(url, { method: 'POST' });
    // A price that rose while we solved (the node's load moves it) answers 402 with a new quote, as a client would pay it.
    for (let attempt = 0; attempt < 3 && paid.error === undefined && paid.status === 402; attempt++) {
      const { token, work } = paid.body as { token: string; work: number };
      const { header } = solveProof({ token, work, method: 'POST', path: '/token', body: Buffer.alloc(0) });
      paid = await fetchIn(url, { method: 'POST', headers: { 'x-pow': header } });
    }
    if (paid.error !== undefined || paid.status !== 200) {
      throw new Error(`token refused: ${JSON.stringify(paid)}\nnode output:\n${children.get(octet)?.output().slice(-3000)}`);
    }
    return paid.body as Credentials;
  }

  async function uclient(octet: number, creds: Credentials, peer: string): Promise<{ code: number | null; output: string; sent: number; received: number; lost?: number }> {
    const args = [
      '-u', creds.username, '-w', creds.credential, '-e', peer, '-r', String(PEER_PORT),
      '-n', '50', '-m', '1', '-l', '100', '-z', '5', '-c', `${BED_PREFIX}.${octet}`,
    ];
    const r = await runIn(bed, 'tc', 'turnutils_uclient', args, 30_000);
    const { sent, received, lostPercent } = parseUclientOutput(r.output);
    return { ...r, sent, received, ...(lostPercent !== undefined ? { lost: lostPercent } : {}) };
  }

  describe.each(BACKENDS)('$backend', ({ octet }) => {
    test('turnutils_uclient relays through the node to a public peer with 0 % loss', async () => {
      const r = await uclient(octet, await buy(octet), PUBLIC_PEER);
      expect({ code: r.code, sent: r.sent, received: r.received, lost: r.lost }).toEqual({ code: 0, sent: 50, received: 50, lost: 0 });
    }, 60_000);

    test('a peer on a private address is refused', async () => {
      const r = await uclient(octet, await buy(octet), PRIVATE_PEER);
      expect(r.received).toBe(0);
      expect(r.output).toMatch(/403/);
    }, 60_000);
  });
});

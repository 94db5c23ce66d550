import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { API_LISTENING_SUBJECT, createLocalBus, createLogger, createMemoryStore, createMetrics, NODES_SET, type Bus, type Store } from '@mesh/shared';
import { createBep44Signer, waitFor, type Bep44Signer } from '@mesh/shared/testing';
import {
  createDhtNode, createDhtService, DHT_GET_SUBJECT, DHT_PUT_SUBJECT, MAX_PORTS_PER_IP, probePeer,
  type DhtGetReply, type DhtPutReply, type DhtService, type ProbeFn, type ProbeOptions, type ProbeResult,
} from '../src/index.js';
import { json, silentLog, startMeshNode, startSwarm, testConfig, type MeshNode, type Swarm } from './support.js';

/** Just enough bencode to forge KRPC messages. */
type Ben = number | string | Buffer | Ben[] | { [k: string]: Ben };
function benc(x: Ben): Buffer {
  if (typeof x === 'number') return Buffer.from(`i${Math.trunc(x)}e`);
  if (typeof x === 'string') return benc(Buffer.from(x, 'utf8'));
  if (Buffer.isBuffer(x)) return Buffer.concat([Buffer.from(`${x.length}:`), x]);
  if (Array.isArray(x)) return Buffer.concat([Buffer.from('l'), ...x.map(benc), Buffer.from('e')]);
  const keys = Object.keys(x).sort();
  return Buffer.concat([Buffer.from('d'), ...keys.flatMap((k) => [benc(k), benc(x[k] as Ben)]), Buffer.from('e')]);
}

/** The 2-byte transaction id of a KRPC message from k-rpc-socket. */
function transactionId(buf: Buffer): Buffer | null {
  const at = buf.indexOf('1:t2:');
  return at === -1 ? null : buf.subarray(at + 5, at + 7);
}

async function ask<T>(bus: Bus, subject: string, body: unknown): Promise<T> {
  const reply = await bus.request(subject, Buffer.from(JSON.stringify(body)), { timeoutMs: 10_000 });
  return JSON.parse(Buffer.from(reply).toString('utf8')) as T;
}

describe('hostile DHT peers', () => {
  let swarm: Swarm;
  let node: MeshNode;
  let bus: Bus;
  let signer: Bep44Signer;
  let attacker: Socket;
  let liar: Socket;
  const warnings: string[] = [];
  let liarGets = 0;

  beforeAll(async () => {
    swarm = await startSwarm(3);
    signer = createBep44Signer();

    // A DHT "node" that answers every query with forged BEP44 data for our key.
    liar = createSocket('udp4');
    const liarId = randomBytes(20);
    let variant = 0;
    liar.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      const t = transactionId(msg);
      if (t === null) return;
      if (msg.includes('1:q3:get')) liarGets++;
      const forged: Ben[] = [
        { id: liarId, token: 'tok', v: 'evil', k: Buffer.from(signer.key, 'hex'), sig: randomBytes(64), seq: 99, nodes: 'garbage!' },
        { id: liarId, token: 5, v: { nested: ['x'] }, k: 7, sig: 'short', seq: 'high', values: [Buffer.from('x')] },
        { id: 'short-id', token: Buffer.alloc(0), v: randomBytes(1500), k: randomBytes(31), sig: 3, seq: -1 },
        { id: liarId, nodes: randomBytes(25), values: 'notalist', v: 'x', k: Buffer.from(signer.key, 'hex'), sig: randomBytes(64), seq: 2 ** 40 },
      ];
      const r = forged[variant++ % forged.length] as Ben;
      const reply = benc({ t, y: 'r', r });
      liar.send(reply, rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => liar.bind(0, '127.0.0.1', resolve));

    const logSink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        warnings.push(chunk.toString('utf8'));
        cb();
      },
    });
    bus = createLocalBus();
    node = await startMeshNode({
      network: `hostile-${randomBytes(4).toString('hex')}`,
      bootstrap: [...swarm.bootstrap, `127.0.0.1:${liar.address().port}`],
      bus,
      log: createLogger({ level: 'warn', service: 'dht-test' }, logSink),
    });

    attacker = createSocket('udp4');
    await new Promise<void>((resolve) => attacker.bind(0, '127.0.0.1', resolve));
  });

  afterAll(async () => {
    await node?.stop();
    await bus?.close();
    attacker?.close();
    liar?.close();
    await swarm?.destroy();
  });

  function send(buf: Buffer): void {
    const addr = node.dht.info().address;
    if (addr === null) throw new Error('dht not listening');
    attacker.send(buf, addr.port, '127.0.0.1');
  }

  /** Sends a query and returns the reply (or null after a short wait). */
  function query(q: string, a: { [k: string]: Ben }): Promise<Buffer | null> {
    const t = randomBytes(2);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        attacker.off('message', onMsg);
        resolve(null);
      }, 1000);
      const onMsg = (msg: Buffer): void => {
        const got = transactionId(msg);
        if (got === null || !got.equals(t)) return;
        clearTimeout(timer);
        attacker.off('message', onMsg);
        resolve(msg);
      };
      attacker.on('message', onMsg);
      send(benc({ t, y: 'q', q, a }));
    });
  }

  test('malformed and hostile messages are contained; the node keeps serving gets', async () => {
    const item = signer.item({ seq: 1, v: 'still here' });
    expect(await ask<DhtPutReply>(bus, DHT_PUT_SUBJECT, item)).toMatchObject({ ok: true });

    const id = randomBytes(20);
    // Not bencode, truncated bencode, wrong top-level types, an oversized datagram.
    for (const raw of ['hello', 'd1:y1:qe', 'i42e', 'le', 'd1:t2:aa1:y1:r1:ri5ee', 'd1:ad2:id']) send(Buffer.from(raw));
    send(randomBytes(3000));
    // Fields of the wrong type where the library expects buffers.
    send(benc({ t: 'ab', y: 'q', q: 'get_peers', a: { id, info_hash: 5 } }));
    send(benc({ t: 'ac', y: 'q', q: 'get', a: { id, target: 5 } }));
    send(benc({ t: 'ad', y: 'q', q: 'find_node', a: { id, target: 5 } }));
    send(benc({ t: 'ae', y: 'q', q: 'announce_peer', a: { id, info_hash: randomBytes(20), token: 7, port: 80 } }));
    send(benc({ t: 'af', y: 'q', q: 'put', a: { id, token: 7, v: 'x' } }));
    send(benc({ t: 'ag', y: 'q', q: 5, a: { id } }));
    send(benc({ t: 'ah', y: 'q', q: 'ping', a: 'notadict' }));

    // A real token first, then puts that pass the token check with hostile BEP44 fields.
    const getReply = await query('get', { id, target: randomBytes(20) });
    expect(getReply).not.toBeNull();
    const tokenAt = (getReply as Buffer).indexOf('5:token');
    const tokenLen = Number((getReply as Buffer).subarray(tokenAt + 7, tokenAt + 9).toString('ascii'));
    const token = (getReply as Buffer).subarray(tokenAt + 10, tokenAt + 10 + tokenLen);
    const k = Buffer.from(signer.key, 'hex');
    const hostilePuts: { [key: string]: Ben }[] = [
      { id, token, v: 'x', k: 7, salt: 'salt', sig: randomBytes(64), seq: 1 },
      { id, token, v: 'x', k, sig: 'notasig', seq: 'one' },
      { id, token, v: { a: 1 }, k: randomBytes(31), sig: randomBytes(64), seq: 1 },
      { id, token, v: 'x', k, salt: 9, sig: randomBytes(64), seq: 1 },
      // Well-formed but forged: must not be stored.
      { id, token, v: 'forged', k, sig: randomBytes(64), seq: 100 },
    ];
    for (const a of hostilePuts) send(benc({ t: 'pp', y: 'q', q: 'put', a }));

    // Still alive (a ping sent after them is answered), still serving, and the forged seq 100 was not taken.
    expect(await query('ping', { id })).not.toBeNull();
    const got = await ask<DhtGetReply>(bus, DHT_GET_SUBJECT, { key: signer.key });
    expect(got).toMatchObject({ ok: true, item: { seq: 1, v: Buffer.from('still here').toString('base64') } });
    // The guard did have something to contain (the library threw at least once).
    await waitFor(() => warnings.some((w) => w.includes('malformed DHT message contained')), { timeoutMs: 2000 });
  });

  test('forged BEP44 answers from a lying DHT node are ignored', async () => {
    const other = createBep44Signer();
    expect(await ask<DhtPutReply>(bus, DHT_PUT_SUBJECT, other.item({ seq: 3, v: 'real' }))).toMatchObject({ ok: true });
    // The liar answers every get with forged items for `signer`'s key.
    const before = liarGets;
    for (let i = 0; i < 4; i++) {
      const got = await ask<DhtGetReply>(bus, DHT_GET_SUBJECT, { key: signer.key });
      expect(got).toMatchObject({ ok: true, item: { seq: 1 } });
    }
    expect(liarGets).toBeGreaterThan(before);
    expect(await ask<DhtGetReply>(bus, DHT_GET_SUBJECT, { key: other.key })).toMatchObject({ ok: true, item: { seq: 3 } });
    // A plain DHT node built the same way also survives the liar.
    const probe = createDhtNode({ bootstrap: [`127.0.0.1:${liar.address().port}`], log: silentLog });
    try {
      await probe.listen(0, '127.0.0.1');
      await probe.whenBootstrapped(3000);
      expect(await probe.getMutable(randomBytes(20).toString('hex'), undefined)).toBeNull();
    } finally {
      await probe.destroy();
    }
  });
});

/** An HTTP server on a loopback address that counts what it is asked. */
interface Listener {
  server: Server;
  host: string;
  port: number;
  hits: number;
}
async function listen(host: string, answer: (port: number) => unknown): Promise<Listener> {
  const l: Listener = { server: createHttpServer(), host, port: 0, hits: 0 };
  l.server.on('request', (_req: IncomingMessage, res) => {
    l.hits++;
    json(res, answer(l.port));
  });
  await new Promise<void>((resolve) => l.server.listen(0, host, resolve));
  l.port = (l.server.address() as AddressInfo).port;
  return l;
}
const closeAll = (ls: Listener[]): Promise<unknown> => Promise.all(ls.map((l) => new Promise<void>((resolve) => {
  l.server.closeAllConnections();
  l.server.close(() => resolve());
})));

function compactPeer(host: string, port: number): Buffer {
  const b = Buffer.alloc(6);
  host.split('.').forEach((octet, i) => { b[i] = Number(octet); });
  b.writeUInt16BE(port, 4);
  return b;
}

/**
 * A DHT "node" answering the mesh's lookups with hostile peer lists: the first
 * get_peers for our infohash gets everything, later ones nothing (so one
 * answer is what the node acted on). Every address in it is on loopback:
 * a node that broke the rules would still send nothing off this machine.
 */
describe('hostile DHT peers: what a mesh node probes', () => {
  const network = `hostile-peers-${randomBytes(4).toString('hex')}`;
  // Probing is allowed at 127.0.0.1 (the flood) and 127.0.0.4-7 (a node and liars); 127.0.0.2-3
  // and 0.0.0.0 stay special-purpose. Only MESH_ALLOWED_PEERS decides: MESH_ALLOW_INSECURE is on.
  const config = testConfig({
    MESH_NETWORK: network,
    MESH_ALLOWED_PEERS: '127.0.0.1/32,127.0.0.4/30',
    PUBLIC_URL: 'http://127.0.0.1:9',
    DHT_ANNOUNCE_PORT: '9',
  });
  const infohash = Buffer.from(config.dht.infohash, 'hex');
  const listeners: Listener[] = [];
  const flood: Listener[] = [];
  const floodPorts: number[] = [];
  const traps: Record<string, Listener> = {};
  const liars: Record<string, Listener> = {};
  let genuine: Listener;
  const genuineId = randomBytes(32).toString('hex');
  let dhtPeer: Socket;
  let floodSent = false;
  let getPeersAfterFlood = 0;
  const probes: { peer: { host: string; port: number }; opts: ProbeOptions; result?: ProbeResult }[] = [];
  let store: Store;
  let bus: Bus;
  let service: DhtService;

  beforeAll(async () => {
    const add = async (host: string, answer: (port: number) => unknown): Promise<Listener> => {
      const l = await listen(host, answer);
      listeners.push(l);
      return l;
    };
    const notOurs = { id: randomBytes(32).toString('hex'), url: 'http://127.0.0.1:1', network: 'f'.repeat(40) };
    // 200 ports of one IP: 50 servers (each would count a probe) and 150 closed ports.
    for (let i = 0; i < 50; i++) flood.push(await add('127.0.0.1', () => notOurs));
    floodPorts.push(...flood.map((l) => l.port));
    const closed = await Promise.all(Array.from({ length: 150 }, () => listen('127.0.0.1', () => null)));
    await closeAll(closed);
    floodPorts.push(...closed.map((l) => l.port));
    // Special-purpose targets: loopback outside the allow list, and 0.0.0.0 (which Linux connects to
    // this host): a trap on 127.0.0.1 at the port announced with 0.0.0.0.
    traps['127.0.0.2'] = await add('127.0.0.2', () => notOurs);
    traps['127.0.0.3'] = await add('127.0.0.3', () => notOurs);
    traps['0.0.0.0'] = await add('127.0.0.1', () => notOurs);
    // Where liars point: an allowed address, so only the url rule keeps us away.
    traps['elsewhere'] = await add('127.0.0.1', (port) => ({ id: genuineId, url: `http://127.0.0.1:${port}`, network: config.dht.infohash }));
    const elsewhere = traps['elsewhere'];
    liars['ip literal'] = await add('127.0.0.5', () => ({ id: genuineId, url: `http://127.0.0.1:${elsewhere.port}`, network: config.dht.infohash }));
    liars['dns name'] = await add('127.0.0.5', () => ({ id: genuineId, url: `http://localhost:${elsewhere.port}`, network: config.dht.infohash }));
    liars['special'] = await add('127.0.0.6', () => ({ id: genuineId, url: `http://127.0.0.2:${traps['127.0.0.2']?.port}`, network: config.dht.infohash }));
    genuine = await add('127.0.0.4', (port) => ({ id: genuineId, url: `http://127.0.0.4:${port}`, network: config.dht.infohash }));

    const values: Buffer[] = [
      ...floodPorts.map((p) => compactPeer('127.0.0.1', p)),
      compactPeer('127.0.0.2', traps['127.0.0.2'].port),
      compactPeer('127.0.0.3', traps['127.0.0.3'].port),
      compactPeer('0.0.0.0', traps['0.0.0.0'].port),
      ...Object.values(liars).map((l) => compactPeer(l.host, l.port)),
      compactPeer('127.0.0.4', genuine.port),
      // Junk the library must skip: port 0, then a truncated entry (which ends its decoding).
      compactPeer('127.0.0.4', 0),
      Buffer.from([127, 0, 0]),
    ];

    const peerId = randomBytes(20);
    dhtPeer = createSocket('udp4');
    dhtPeer.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      const t = transactionId(msg);
      if (t === null) return;
      const r: { [k: string]: Ben } = { id: peerId, token: 'tok', nodes: Buffer.alloc(0) };
      if (msg.includes('9:get_peers') && msg.includes(infohash)) {
        if (!floodSent) {
          r['values'] = values;
          floodSent = true;
        } else {
          getPeersAfterFlood++;
        }
      }
      dhtPeer.send(benc({ t, y: 'r', r }), rinfo.port, rinfo.address);
    });
    await new Promise<void>((resolve) => dhtPeer.bind(0, '127.0.0.1', resolve));

    // The real probe, recorded: what it was asked, with which options, and what it answered.
    const recording: ProbeFn = async (peer, opts) => {
      const entry: (typeof probes)[number] = { peer, opts };
      probes.push(entry);
      entry.result = await probePeer(peer, opts);
      return entry.result;
    };
    store = createMemoryStore({ prefix: 'mesh:' });
    bus = createLocalBus();
    service = createDhtService({
      config: { ...config, dht: { ...config.dht, bootstrap: [`127.0.0.1:${dhtPeer.address().port}`] } },
      bus, store, log: silentLog, metrics: createMetrics({ service: 'dht', defaultMetrics: false }), probe: recording,
    });
    await service.start();
    // As the API would once its public server listens.
    bus.respond(API_LISTENING_SUBJECT, () => Uint8Array.of(1));
    service.onListening();
  });

  afterAll(async () => {
    await service?.stop();
    await bus?.close();
    await store?.close();
    dhtPeer?.close();
    await closeAll(listeners);
  });

  const resultsFor = (host: string, port?: number): ProbeResult[] =>
    probes.filter((p) => p.peer.host === host && (port === undefined || p.peer.port === port)).flatMap((p) => (p.result ? [p.result] : []));

  test('special addresses, 200 ports of one IP and urls pointing elsewhere: only what the rules allow is contacted', async () => {
    // The answer was acted on: the genuine node is verified and every address after the flood
    // in that answer has been probed (the queue is first come, first served).
    await waitFor(async () => (await store.seenSince(NODES_SET, 0, 10)).some((m) => m.member === `http://127.0.0.4:${genuine.port}`), { timeoutMs: 20_000 });
    const named = ['127.0.0.2', '127.0.0.3', '0.0.0.0', '127.0.0.5', '127.0.0.6', '127.0.0.4'];
    await waitFor(() => named.every((h) => resultsFor(h).length > 0) && probes.every((p) => p.result !== undefined), { timeoutMs: 20_000 });
    // Two more lookups since: the node kept running and had time to act on anything still queued.
    const after = getPeersAfterFlood;
    await waitFor(() => getPeersAfterFlood >= after + 2 && probes.every((p) => p.result !== undefined), { timeoutMs: 20_000 });

    // The options came from the config: http urls allowed, the allow list as set.
    expect(probes[0]?.opts).toMatchObject({ allowInsecure: true, allowedPeers: ['127.0.0.1/32', '127.0.0.4/30'] });
    // Special-purpose addresses outside the allow list: refused, and nobody there heard from us.
    for (const h of ['127.0.0.2', '127.0.0.3', '0.0.0.0']) {
      expect(resultsFor(h).map((r) => !r.ok && r.reason)).toEqual(['special_address']);
      expect(traps[h]?.hits).toBe(0);
    }
    // One answer listing 200 ports of 127.0.0.1: at most MAX_PORTS_PER_IP of them probed, each once.
    const floodProbes = probes.filter((p) => p.peer.host === '127.0.0.1');
    expect(floodProbes.length).toBeGreaterThan(0);
    expect(floodProbes.length).toBeLessThanOrEqual(MAX_PORTS_PER_IP);
    expect(flood.reduce((n, l) => n + l.hits, 0)).toBe(floodProbes.filter((p) => flood.some((l) => l.port === p.peer.port)).length);
    // Urls naming another host (as an IP, as a DNS name, a special address): refused, and no request went there.
    expect(resultsFor('127.0.0.5').map((r) => !r.ok && r.reason)).toEqual(['url_elsewhere', 'url_elsewhere']);
    expect(resultsFor('127.0.0.6').map((r) => !r.ok && r.reason)).toEqual(['url_elsewhere']);
    expect(traps['elsewhere']?.hits).toBe(0);
    expect(traps['127.0.0.2']?.hits).toBe(0);
    // Port 0 was never probed.
    expect(probes.some((p) => p.peer.port === 0)).toBe(false);
    // And the node is still up.
    expect(await service.ready()).toBe(true);
    expect((await store.seenSince(NODES_SET, 0, 10)).map((m) => m.member)).toEqual(expect.arrayContaining([`http://127.0.0.4:${genuine.port}`]));
  });
});

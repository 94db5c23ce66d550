import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { Writable } from 'node:stream';
import { createLocalBus, createLogger, type Bus } from '@mesh/shared';
import { waitFor } from '@mesh/shared/testing';
import { createDhtNode, DHT_GET_SUBJECT, DHT_PUT_SUBJECT, type DhtGetReply, type DhtPutReply } from '../src/index.js';
import { createBep44Signer, type Bep44Signer } from '@mesh/shared/testing';
import { silentLog, startMeshNode, startSwarm, type MeshNode, type Swarm } from './support.js';

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

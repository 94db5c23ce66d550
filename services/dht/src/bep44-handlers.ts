import type { Logger } from 'pino';
import type { RpcError } from 'bittorrent-dht';
import type { Metrics, RequestHandler } from '@mesh/shared';
import {
  TimeoutError,
  bep44Target,
  decodeBep44Value,
  parseBep44GetRequest,
  parseBep44PutRequest,
  verifyBep44,
  withTimeout,
  type Bep44Item,
  type DhtGetReply,
  type DhtPutReply,
} from '@mesh/shared';
import type { DhtNode } from './dht-node.js';

/**
 * The `dht.get` / `dht.put` responders (protocol: ./protocol.ts). They never
 * throw: every outcome is a reply with a PROTOCOL.md code, so the API can
 * map it to a status without guessing.
 */
export interface Bep44HandlerOptions {
  /** The running DHT node, or null while starting or stopped. */
  dht: () => DhtNode | null;
  timeoutMs: number;
  metrics: Metrics;
  log: Logger;
}

/** A request is a few hundred bytes of JSON; a put at most ~1.6 KB. */
const MAX_REQUEST_BYTES = 4096;

class SeqConflict extends Error {}


function decodeJson(data: Uint8Array): unknown {
  if (data.length > MAX_REQUEST_BYTES) return undefined;
  try {
    return JSON.parse(Buffer.from(data).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

const encode = (reply: DhtGetReply | DhtPutReply): Uint8Array => Buffer.from(JSON.stringify(reply), 'utf8');

/** BEP44 errors 301 (cas mismatch) and 302 (seq not newer) from storing nodes. */
function isSeqConflict(err: unknown): boolean {
  if (err instanceof SeqConflict) return true;
  const code = (err as RpcError | undefined)?.code;
  return code === 301 || code === 302;
}

export function createBep44Handlers(opts: Bep44HandlerOptions): { get: RequestHandler; put: RequestHandler } {
  const { metrics, log } = opts;
  const ops = metrics.counter<'op' | 'outcome'>('dht_bep44_total', 'BEP44 gets and puts by outcome', ['op', 'outcome']);

  async function get(data: Uint8Array): Promise<DhtGetReply> {
    const parsed = parseBep44GetRequest(decodeJson(data));
    if (!parsed.ok) return { ok: false, error: 'bad_request', message: parsed.message };
    const dht = opts.dht();
    if (dht === null) return { ok: false, error: 'unavailable' };
    const { key, salt } = parsed.value;
    const saltBytes = salt !== undefined ? Buffer.from(salt, 'utf8') : undefined;
    try {
      const value = await withTimeout(dht.getMutable(bep44Target(key, salt), saltBytes), opts.timeoutMs);
      if (value === null) return { ok: false, error: 'not_found' };
      const item = toItem(key, salt, value);
      if (item === null) {
        // The library checked the signature; this is a second look at every field before it leaves.
        log.warn({ key }, 'DHT returned a malformed BEP44 item; treated as not found');
        return { ok: false, error: 'not_found' };
      }
      return { ok: true, item };
    } catch (err) {
      if (err instanceof TimeoutError) return { ok: false, error: 'dht_timeout' };
      log.warn({ err, key }, 'BEP44 get failed');
      return { ok: false, error: 'dht_timeout', message: 'the DHT lookup failed' };
    }
  }

  async function put(data: Uint8Array): Promise<DhtPutReply> {
    const parsed = parseBep44PutRequest(decodeJson(data));
    if (!parsed.ok) return { ok: false, error: 'bad_request', message: parsed.message };
    const req = parsed.value;
    // Never trust the bus: a put with a bad signature must not reach the DHT.
    if (!verifyBep44(req)) return { ok: false, error: 'bad_signature' };
    const dht = opts.dht();
    if (dht === null) return { ok: false, error: 'unavailable' };
    const salt = req.salt !== undefined ? Buffer.from(req.salt, 'utf8') : undefined;
    try {
      const { target, stored } = await withTimeout((async () => {
        // Storing nodes check seq and cas only against their own copy, and the
        // node that put an item keeps none: a stale put would land on the nodes
        // lacking it. Reading the current item first makes `seq_conflict` hold
        // for the DHT as a whole (the read also finds the nodes the put goes to).
        const current = await dht.getMutable(bep44Target(req.key, req.salt), salt);
        if (current !== null && typeof current.seq === 'number') {
          if (req.seq <= current.seq || (req.cas !== undefined && req.cas !== current.seq)) throw new SeqConflict();
        }
        return dht.putMutable({
          k: Buffer.from(req.key, 'hex'),
          v: decodeBep44Value(req.v) as Buffer,
          seq: req.seq,
          sig: Buffer.from(req.sig, 'hex'),
          ...(salt !== undefined ? { salt } : {}),
          ...(req.cas !== undefined ? { cas: req.cas } : {}),
        });
      })(), opts.timeoutMs);
      return { ok: true, target, stored };
    } catch (err) {
      if (err instanceof TimeoutError) return { ok: false, error: 'dht_timeout' };
      if (isSeqConflict(err)) return { ok: false, error: 'seq_conflict' };
      log.warn({ err, key: req.key }, 'BEP44 put failed');
      // "No nodes to query" / "All queries failed": nobody took it.
      return { ok: false, error: 'unavailable', message: 'no DHT node took the item' };
    }
  }

  return {
    get: async (data) => {
      const reply = await get(data);
      ops.inc({ op: 'get', outcome: reply.ok ? 'found' : reply.error });
      return encode(reply);
    },
    put: async (data) => {
      const reply = await put(data);
      ops.inc({ op: 'put', outcome: reply.ok ? 'stored' : reply.error });
      return encode(reply);
    },
  };
}

function toItem(
  key: string,
  salt: string | undefined,
  value: { v: unknown; k?: unknown; sig?: unknown; seq?: unknown },
): Bep44Item | null {
  const { v, k, sig, seq } = value;
  if (!(v instanceof Uint8Array) || !(sig instanceof Uint8Array) || !(k instanceof Uint8Array)) return null;
  if (Buffer.from(k).toString('hex') !== key) return null;
  const item: Bep44Item = {
    key,
    salt: salt ?? '',
    seq: typeof seq === 'number' ? seq : -1,
    v: Buffer.from(v).toString('base64'),
    sig: Buffer.from(sig).toString('hex'),
  };
  const check = { key, seq: item.seq, v: item.v, sig: item.sig, ...(salt !== undefined ? { salt } : {}) };
  return verifyBep44(check) ? item : null;
}

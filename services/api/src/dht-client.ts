import {
  BusError, ProtocolError, type Bus, type ErrorCode, type Logger,
  DHT_GET_SUBJECT, DHT_PUT_SUBJECT, isBep44Key, isBep44Salt, isBep44Seq, verifyBep44,
  type Bep44GetRequest, type Bep44Item, type Bep44PutRequest, type DhtGetError, type DhtPutError,
} from '@mesh/shared';

/**
 * The API's side of the `dht.get` / `dht.put` bus protocol
 * (services/dht/src/protocol.ts). Every outcome becomes either a result or a
 * ProtocolError with PROTOCOL.md's code; replies are checked again here
 * (never trust the bus): an item must be the one asked for and its signature
 * must verify.
 */
export interface DhtClient {
  /** False while the bus is down: the caller answers 503 before asking for payment. */
  reachable(): boolean;
  get(req: Bep44GetRequest): Promise<Bep44Item>;
  put(req: Bep44PutRequest): Promise<{ target: string; stored: number }>;
}

/** A reply is at most a ~1.4 KB item; anything far larger is not one. */
const MAX_REPLY_BYTES = 8192;
const GET_ERRORS: readonly DhtGetError[] = ['not_found', 'dht_timeout', 'bad_request', 'unavailable'];
const PUT_ERRORS: readonly DhtPutError[] = ['seq_conflict', 'bad_signature', 'dht_timeout', 'bad_request', 'unavailable'];
const HEX40 = /^[0-9a-f]{40}$/;

function isRecord(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

export function createDhtClient(opts: { bus: Bus; timeoutMs: number; log: Logger }): DhtClient {
  const { bus, log } = opts;

  async function ask(subject: string, payload: unknown): Promise<Record<string, unknown>> {
    let raw: Uint8Array;
    try {
      raw = await bus.request(subject, Buffer.from(JSON.stringify(payload), 'utf8'), { timeoutMs: opts.timeoutMs });
    } catch (err) {
      if (err instanceof BusError && err.code === 'timeout') throw new ProtocolError('dht_timeout', undefined, {}, { cause: err });
      if (!(err instanceof BusError) || err.code === 'remote') log.warn({ err, subject }, 'dht request failed');
      throw new ProtocolError('unavailable', 'The DHT service is not answering.', {}, { cause: err });
    }
    let reply: unknown;
    try {
      reply = raw.length <= MAX_REPLY_BYTES ? JSON.parse(Buffer.from(raw).toString('utf8')) : undefined;
    } catch {
      reply = undefined;
    }
    if (!isRecord(reply)) throw malformed(subject);
    return reply;
  }

  function malformed(subject: string): ProtocolError {
    log.warn({ subject }, 'malformed reply from the dht service');
    return new ProtocolError('unavailable', 'The DHT service gave a malformed answer.');
  }

  function refusal<C extends ErrorCode>(subject: string, reply: Record<string, unknown>, codes: readonly C[]): ProtocolError {
    const code = reply['error'];
    if (typeof code === 'string' && (codes as readonly string[]).includes(code)) {
      return new ProtocolError(code as C);
    }
    return malformed(subject);
  }

  return {
    reachable: () => bus.isReady(),

    async get(req) {
      const reply = await ask(DHT_GET_SUBJECT, req);
      if (reply['ok'] !== true) throw refusal(DHT_GET_SUBJECT, reply, GET_ERRORS);
      const item = reply['item'];
      const salt = req.salt ?? '';
      if (!isRecord(item) || item['key'] !== req.key || item['salt'] !== salt || !isBep44Salt(item['salt'])
        || !isBep44Key(item['key']) || !isBep44Seq(item['seq'])
        || typeof item['v'] !== 'string' || typeof item['sig'] !== 'string') {
        throw malformed(DHT_GET_SUBJECT);
      }
      const checked: Bep44Item = { key: req.key, salt, seq: item['seq'], v: item['v'], sig: item['sig'].toLowerCase() };
      // An empty salt signs no salt part (bep44SignBuffer).
      if (!verifyBep44(checked)) throw malformed(DHT_GET_SUBJECT);
      return checked;
    },
    async put(req) {
      const reply = await ask(DHT_PUT_SUBJECT, req);
      if (reply['ok'] !== true) throw refusal(DHT_PUT_SUBJECT, reply, PUT_ERRORS);
      const { target, stored } = reply;
      if (typeof target !== 'string' || !HEX40.test(target) || typeof stored !== 'number'
        || !Number.isSafeInteger(stored) || stored < 0) {
        throw malformed(DHT_PUT_SUBJECT);
      }
      return { target, stored };
    },
  };
}

import { createSocket, type RemoteInfo } from 'node:dgram';
import type { Logger } from 'pino';
import DHT, { type DhtGetValue, type DhtPutOptions, type RpcError } from 'bittorrent-dht';
import { verifyEd25519 } from '@mesh/shared';

/**
 * One bittorrent-dht node behind a small promise API, hardened against
 * hostile peers:
 * - BEP44 signatures are checked with `node:crypto` (`verifyEd25519`, which
 *   never throws): the README's native verifier throws inside the UDP
 *   handler on the Uint8Arrays bencode 4 hands it (docs/FINDINGS.md).
 * - Every datagram is handled inside try/catch: the library trusts the types
 *   of decoded fields (an integer `token` makes `token.equals` throw), and a
 *   throw there would otherwise end the process.
 * - Oversized datagrams are dropped before decoding.
 */
export interface DhtNode {
  /** 40 hex. */
  readonly nodeId: string;
  listen(port: number, host: string): Promise<{ host: string; port: number }>;
  /** Resolves when bootstrapping ended (true) or after `timeoutMs` (false). */
  whenBootstrapped(timeoutMs: number): Promise<boolean>;
  address(): { host: string; port: number } | null;
  /** Contacts in the routing table. */
  routingNodes(): number;
  /** Up to `max` routing-table contacts, for the persisted state. */
  contacts(max: number): { host: string; port: number }[];
  /** Pings a contact; it joins the routing table when it answers. */
  addContact(contact: { host: string; port: number }): void;
  /**
   * Calls `listener` for every peer found under `infohash`: peers a lookup
   * found (repeats included) and peers that announced themselves to us.
   */
  onPeer(infohash: string, listener: (peer: { host: string; port: number }) => void): () => void;
  /** Calls `listener` each time a new contact joins the routing table. */
  onContact(listener: () => void): () => void;
  announce(infohash: string, port: number): Promise<void>;
  /** Walks the DHT towards `infohash`; peers arrive through `onPeer`. */
  lookup(infohash: string): Promise<void>;
  /** The newest verified mutable item at `target` (40 hex), or null. */
  getMutable(target: string, salt: Buffer | undefined): Promise<DhtGetValue | null>;
  putMutable(item: DhtPutOptions): Promise<{ target: string; stored: number }>;
  isListening(): boolean;
  destroy(): Promise<void>;
}

export interface DhtNodeOptions {
  /** 40 hex, from the persisted state; random when absent. */
  nodeId?: string;
  /** `host:port` entries; empty for an isolated node. */
  bootstrap: string[];
  log: Logger;
  /** UDP query timeout, ms (library default 2000). */
  queryTimeoutMs?: number;
}

/**
 * How long peers announced to us are kept. Mainline DHT nodes commonly
 * forget peers after 30 minutes; announcers renew well before (service.ts).
 */
export const PEER_MAX_AGE_MS = 30 * 60_000;

export type DhtNodeFactory = (opts: DhtNodeOptions) => DhtNode;

/** A KRPC message carrying a BEP44 put is under ~1.2 KB; anything much larger is not DHT traffic. */
const MAX_DATAGRAM_BYTES = 2048;
/** Bounds of the library's caches: stored values, lookup tables and announced peers. */
const MAX_VALUES = 1000;
const MAX_TABLES = 1000;
const MAX_PEERS = 10000;

/**
 * The library's `put` refuses `v` of exactly 1000 bytes, which PROTOCOL.md
 * allows (and the library's own storing side accepts). Callers validate
 * every field first (libs/shared/src/bep44.ts), so we go straight to `_put`.
 */
class MeshDht extends DHT {
  override put(opts: DhtPutOptions, cb: (err: RpcError | null, target: Buffer, stored: number) => void): Buffer {
    return this._put(opts, cb);
  }
}

function verifyBep44Signature(sig: Uint8Array, msg: Uint8Array, pub: Uint8Array): boolean {
  if (!(sig instanceof Uint8Array) || !(msg instanceof Uint8Array) || !(pub instanceof Uint8Array)) return false;
  return verifyEd25519(pub, msg, sig);
}

export const createDhtNode: DhtNodeFactory = (opts) => {
  const { log } = opts;
  const socket = createSocket('udp4');
  const dht = new MeshDht({
    ...(opts.nodeId !== undefined ? { nodeId: Buffer.from(opts.nodeId, 'hex') } : {}),
    bootstrap: opts.bootstrap.length === 0 ? false : opts.bootstrap,
    // No self-announce through `host`: other nodes record our UDP source address.
    host: false,
    verify: verifyBep44Signature,
    socket,
    maxValues: MAX_VALUES,
    maxTables: MAX_TABLES,
    maxPeers: MAX_PEERS,
    maxAge: PEER_MAX_AGE_MS,
    ...(opts.queryTimeoutMs !== undefined ? { timeout: opts.queryTimeoutMs } : {}),
  });
  guardDatagrams(socket, log);

  let bootstrapped = false;
  dht.once('ready', () => {
    bootstrapped = true;
  });
  dht.on('warning', (err: unknown) => log.debug({ err }, 'dht warning'));
  // Without an 'error' listener an EADDRINUSE would be thrown as an uncaught error.
  dht.on('error', (err: unknown) => log.error({ err }, 'dht error'));

  const node: DhtNode = {
    nodeId: dht.nodeId.toString('hex'),

    listen(port, host) {
      return new Promise((resolve, reject) => {
        const onError = (err: Error): void => reject(err);
        dht.once('error', onError);
        dht.listen(port, host, () => {
          dht.off('error', onError);
          const a = dht.address();
          resolve({ host: a.address, port: a.port });
        });
      });
    },

    whenBootstrapped(timeoutMs) {
      if (bootstrapped) return Promise.resolve(true);
      return new Promise((resolve) => {
        const done = (ok: boolean): void => {
          clearTimeout(timer);
          dht.off('ready', onReady);
          dht.off('close', onClose);
          resolve(ok);
        };
        const onReady = (): void => done(true);
        const onClose = (): void => done(false);
        const timer = setTimeout(() => done(false), timeoutMs);
        dht.once('ready', onReady);
        dht.once('close', onClose);
      });
    },

    address() {
      if (!dht.listening || dht.destroyed) return null;
      const a = dht.address();
      return { host: a.address, port: a.port };
    },

    routingNodes: () => (dht.destroyed ? 0 : dht.nodes.count()),

    contacts(max) {
      if (dht.destroyed) return [];
      return dht.nodes.toArray().slice(0, max).map((c) => ({ host: c.host, port: c.port }));
    },

    addContact(contact) {
      if (!dht.destroyed) dht.addNode({ host: contact.host, port: contact.port });
    },

    onPeer(infohash, listener) {
      const onPeer = (peer: { host: string; port: number }, ih: Buffer): void => {
        if (Buffer.isBuffer(ih) && ih.toString('hex') === infohash) listener({ host: peer.host, port: peer.port });
      };
      // 'peer': found by a lookup; 'announce': a peer announced itself to us
      // (the library emits these apart).
      dht.on('peer', onPeer);
      dht.on('announce', onPeer);
      return () => {
        dht.off('peer', onPeer);
        dht.off('announce', onPeer);
      };
    },

    onContact(listener) {
      const onNode = (): void => listener();
      dht.on('node', onNode);
      return () => dht.off('node', onNode);
    },

    announce(infohash, port) {
      return new Promise((resolve, reject) => {
        dht.announce(infohash, port, (err) => (err ? reject(err) : resolve()));
      });
    },

    lookup(infohash) {
      return new Promise((resolve, reject) => {
        dht.lookup(infohash, (err) => (err ? reject(err) : resolve()));
      });
    },

    getMutable(target, salt) {
      return new Promise((resolve, reject) => {
        dht.get(target, salt !== undefined ? { salt } : {}, (err, value) => (err ? reject(err) : resolve(value)));
      });
    },

    putMutable(item) {
      return new Promise((resolve, reject) => {
        try {
          dht.put(item, (err, target, stored) => {
            if (err) reject(err);
            else resolve({ target: Buffer.from(target).toString('hex'), stored });
          });
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    },

    isListening: () => dht.listening && !dht.destroyed,

    destroy() {
      return new Promise((resolve) => dht.destroy(() => resolve()));
    },
  };
  return node;
};

/**
 * Replaces the socket's 'message' listeners (k-rpc-socket's decoder) with one
 * that drops oversized datagrams and contains any throw of the library.
 */
function guardDatagrams(socket: ReturnType<typeof createSocket>, log: Logger): void {
  const inner = socket.listeners('message') as ((buf: Buffer, rinfo: RemoteInfo) => void)[];
  socket.removeAllListeners('message');
  let contained = 0;
  socket.on('message', (buf: Buffer, rinfo: RemoteInfo) => {
    if (buf.length > MAX_DATAGRAM_BYTES) return;
    for (const listener of inner) {
      try {
        listener(buf, rinfo);
      } catch (err) {
        // Rate-limited log: a hostile peer can send these as fast as it likes.
        if (contained++ % 1000 === 0) {
          log.warn({ err, from: `${rinfo.address}:${rinfo.port}`, contained }, 'malformed DHT message contained');
        }
      }
    }
  });
}

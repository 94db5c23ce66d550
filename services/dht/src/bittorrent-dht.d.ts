// The part of bittorrent-dht 11 (untyped, ESM-only) this service uses.
declare module 'bittorrent-dht' {
  import { EventEmitter } from 'node:events';
  import type { Socket } from 'node:dgram';

  export interface DhtContact {
    id?: Buffer;
    host: string;
    port: number;
  }

  export interface DhtOptions {
    nodeId?: Buffer;
    /** `false` for none; `host:port` strings or contacts. */
    bootstrap?: false | (string | DhtContact)[];
    host?: string | false;
    verify?: (sig: Uint8Array, msg: Uint8Array, pub: Uint8Array) => boolean;
    /** Passed down to k-rpc-socket: the UDP socket to use. */
    socket?: Socket;
    /** Query timeout of k-rpc-socket, ms (default 2000). */
    timeout?: number;
    maxTables?: number;
    maxValues?: number;
    maxPeers?: number;
    maxAge?: number;
    concurrency?: number;
  }

  /** A mutable item as the library hands it back from `get`. */
  export interface DhtGetValue {
    v: Buffer;
    k?: Buffer;
    sig?: Buffer;
    seq?: number;
    salt?: Buffer;
  }

  export interface DhtPutOptions {
    k: Buffer;
    v: Buffer;
    seq: number;
    sig: Buffer;
    salt?: Buffer;
    cas?: number;
  }

  export interface KBucketLike {
    count(): number;
    toArray(): DhtContact[];
  }

  export interface RpcError extends Error {
    code?: number | string;
  }

  export default class DHT extends EventEmitter {
    constructor(opts?: DhtOptions);
    readonly nodeId: Buffer;
    readonly nodes: KBucketLike;
    listening: boolean;
    destroyed: boolean;
    ready?: boolean;
    listen(port: number, host: string, cb?: () => void): void;
    address(): { address: string; family: string; port: number };
    addNode(node: DhtContact): void;
    announce(infoHash: Buffer | string, port: number, cb?: (err: RpcError | null) => void): void;
    lookup(infoHash: Buffer | string, cb?: (err: RpcError | null, n?: number) => void): () => void;
    get(
      target: Buffer | string,
      opts: { salt?: Buffer; cache?: boolean },
      cb: (err: RpcError | null, value: DhtGetValue | null) => void,
    ): void;
    put(opts: DhtPutOptions, cb: (err: RpcError | null, target: Buffer, stored: number) => void): Buffer;
    /** The unchecked put the public `put` ends in. */
    protected _put(opts: DhtPutOptions, cb: (err: RpcError | null, target: Buffer, stored: number) => void): Buffer;
    toJSON(): { nodes: DhtContact[] };
    destroy(cb?: () => void): void;
  }
}

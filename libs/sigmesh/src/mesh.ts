/** The entry point: discovery, a shared solver, and rooms joined by name. */
import { deriveRoomKey } from './crypto.js';
import { Discovery, type LiveNode } from './discovery.js';
import { SigmeshError } from './errors.js';
import type { FetchLike } from './http.js';
import type { ChannelSocketCtor } from './post-channel.js';
import { Room, roomHash } from './room.js';
import { createSolver, type Solver, type SolverOptions } from './solver.js';
import type { StorageAdapter } from './storage.js';

export interface MeshOptions {
  /** One or more node URLs to start from (origins). */
  seeds: string[];
  /** Namespaces room names: the same name in two apps is two rooms. */
  appId: string;
  /** Where good nodes are remembered; default localStorage in browsers, memory elsewhere. */
  storage?: StorageAdapter;
  /** Nodes per room; default 2. */
  k?: number;
  /** Only nodes of this network (40 hex); default the first seed's. */
  network?: string;
  fetch?: FetchLike;
  /**
   * WebSocket constructor for room post channels; default the global `WebSocket`
   * (browsers). null: every post goes over HTTP.
   */
  webSocket?: ChannelSocketCtor | null;
  /** Default: a new solver with `solverOptions`. */
  solver?: Solver;
  solverOptions?: SolverOptions;
  /** Re-probe nodes this often; default 5 min. */
  refreshIntervalMs?: number;
}

export interface JoinOptions {
  /** End-to-end encrypt everything posted in the room (members need the same password). */
  password?: string;
  /** Announce presence (hello/bye); default true. */
  presence?: boolean;
  /** Nodes for this room; default the mesh's k. */
  k?: number;
  /** Post a presence `beat` after this long without posting; default 10 s. */
  heartbeatMs?: number;
  /** A member not heard from this long has left; default 25 s. */
  peerTimeoutMs?: number;
}

export interface Mesh {
  readonly discovery: Discovery;
  readonly solver: Solver;
  /** Resolves after the first discovery round found a live node. */
  ready(): Promise<void>;
  nodes(): LiveNode[];
  joinRoom(name: string, opts?: JoinOptions): Promise<Room>;
  /** Leaves every room, stops refreshing, stops the solver if we created it. */
  close(): Promise<void>;
}

export function createMesh(opts: MeshOptions): Mesh {
  if (!opts.appId) throw new TypeError('appId is required');
  const solver = opts.solver ?? createSolver(opts.solverOptions);
  const discovery = new Discovery({
    seeds: opts.seeds,
    ...(opts.storage ? { storage: opts.storage } : {}),
    ...(opts.network ? { network: opts.network } : {}),
    client: { solver, ...(opts.fetch ? { fetch: opts.fetch } : {}), ...(opts.webSocket !== undefined ? { webSocket: opts.webSocket } : {}) },
  });
  const rooms = new Set<Room>();
  let first: Promise<void> | null = null;
  let timer: ReturnType<typeof setInterval> | null = null;

  const ready = (): Promise<void> => {
    first ??= discovery.refresh().then(() => {
      if (discovery.live().length === 0) { first = null; throw new SigmeshError('no_nodes', 'no seed or known node answered'); }
      timer ??= setInterval(() => void discovery.refresh().catch(() => undefined), opts.refreshIntervalMs ?? 300_000);
      (timer as { unref?: () => void }).unref?.();
    });
    return first;
  };

  return {
    discovery,
    solver,
    ready,
    nodes: () => discovery.live(),
    async joinRoom(name, jo = {}) {
      await ready();
      const hash = roomHash(opts.appId, name);
      const key = jo.password ? await deriveRoomKey(jo.password, hash) : null;
      const room = new Room({
        discovery, name, hash, key,
        k: jo.k ?? opts.k ?? 2,
        ...(jo.presence !== undefined ? { presence: jo.presence } : {}),
        ...(jo.heartbeatMs !== undefined ? { heartbeatMs: jo.heartbeatMs } : {}),
        ...(jo.peerTimeoutMs !== undefined ? { peerTimeoutMs: jo.peerTimeoutMs } : {}),
        ...(opts.fetch ? { fetch: opts.fetch } : {}),
      });
      rooms.add(room);
      const leave = room.leave.bind(room);
      room.leave = async () => { rooms.delete(room); await leave(); };
      try {
        await room.join();
      } catch (err) {
        await room.leave();
        throw err;
      }
      return room;
    },
    async close() {
      if (timer) clearInterval(timer);
      timer = null;
      await Promise.all([...rooms].map((r) => r.leave()));
      if (!opts.solver) solver.close();
    },
  };
}

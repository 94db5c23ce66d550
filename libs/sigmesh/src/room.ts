/**
 * A joined room: streams from the k nodes rendezvous hashing picks, posts to all of
 * them, deduplicates what arrives through several, replaces a node that dies, and
 * tracks which peers are present: `hello` on join, a `beat` after a quiet while, `bye`
 * on leave (and, in browsers, on pagehide, with a proof solved beforehand); a member
 * not heard from for `peerTimeoutMs` is dropped.
 */
import { open, seal, type RoomKey } from './crypto.js';
import type { Discovery, LiveNode } from './discovery.js';
import { Emitter } from './emitter.js';
import { asciiJson, fragment, parseEnvelope, randomId, Reassembler, RecentIds, type Envelope, type EnvelopeType } from './envelope.js';
import { SigmeshError } from './errors.js';
import type { FetchLike } from './http.js';
import type { IceServer, NodeClient } from './node-client.js';
import { rankNodes } from './rendezvous.js';
import { RoomStream } from './room-stream.js';
import { sha256Hex } from './sha256.js';
import type { SolveProgress } from './solver.js';

/** Room hash: hex SHA-256 of `sigmesh/v1` + JSON `[appId, name]` (unambiguous for any strings). */
export function roomHash(appId: string, name: string): string {
  return sha256Hex('sigmesh/v1' + JSON.stringify([appId, name]));
}

/** Signals kept for a peers helper not attached yet (a few connections' offers and candidates). */
const MAX_SIGNAL_BACKLOG = 256;

export interface RoomMessage {
  mid: string;
  from: string;
  to?: string;
  type: EnvelopeType;
  data: unknown;
}

export interface RoomNode {
  url: string;
  id: string;
  difficulty: number;
  connected: boolean;
}

export interface RoomEvents {
  /** Application messages (`room.send`). */
  message: RoomMessage;
  /** Signaling for the peers helper. */
  signal: RoomMessage;
  peer: { id: string };
  'peer-left': { id: string };
  /** The chosen nodes changed or (dis)connected. */
  nodes: RoomNode[];
  /**
   * A post we cannot read: sealed with another password, sealed while we have none,
   * or plain while we have one. Members with a wrong password see these and nothing else.
   */
  undecryptable: { total: number };
  error: unknown;
}

export interface SendOptions {
  to?: string;
  /** Default 'msg'. */
  type?: EnvelopeType;
  signal?: AbortSignal;
  onProgress?: (p: SolveProgress) => void;
}

export interface RoomDeps {
  discovery: Discovery;
  name: string;
  hash: string;
  /** Nodes used at once; default 2. */
  k?: number;
  key?: RoomKey | null;
  /** Announce ourselves and answer others' hellos; default true. */
  presence?: boolean;
  fetch?: FetchLike;
  /** Stream drops in a row before a node is given up for this room; default 2. */
  maxStreamFailures?: number;
  /** At most this many peers tracked; default 256. */
  maxPeers?: number;
  /** Post a `beat` after this long without posting anything; default 10 s. */
  heartbeatMs?: number;
  /** A member silent this long has left; default 25 s (a lost beat and a slow solve fit in). */
  peerTimeoutMs?: number;
}

export const HEARTBEAT_MS = 10_000;
export const PEER_TIMEOUT_MS = 25_000;
/** A pre-paid bye is renewed this often: its token must still be accepted (TTL 300 s, rotation 60 s). */
const BYE_PROOF_MS = 180_000;
/**
 * The pre-paid bye bids this many times the price (rooms get dearer as they are used,
 * nodes as they are loaded), and is solved again once the price passes its bid.
 */
const BYE_BID_FACTOR = 2;

/** A bye whose proof is solved already, so it can leave while the page unloads. */
interface PreparedBye {
  url: string;
  proof: string;
  /** What the proof paid: a price above it would refuse the bye. */
  work: number;
  untilMs: number;
}

/** The parts of a browser window the room uses for pagehide (absent in Node and in workers). */
interface PageEvents {
  addEventListener(type: 'pagehide', fn: () => void): void;
  removeEventListener(type: 'pagehide', fn: () => void): void;
}

function pageEvents(): PageEvents | null {
  const g = globalThis as { document?: unknown; addEventListener?: unknown; removeEventListener?: unknown };
  return g.document !== undefined && typeof g.addEventListener === 'function' && typeof g.removeEventListener === 'function'
    ? (g as unknown as PageEvents) : null;
}

/** Backoff of the re-probe while a room has no node at all (1 s, doubling, at most 30 s). */
const RECOVER_MIN_MS = 1000;
const RECOVER_MAX_MS = 30_000;
/**
 * A stream opened on a replacement node first replays what that node holds
 * from this long ago (nodes keep at least 60 s): a peer may have posted there
 * while we were still on the failed node. Replays are deduplicated by `mid`.
 */
const FAILOVER_REPLAY_MS = 30_000;

interface Chosen {
  node: LiveNode;
  /** The node's client when chosen: it holds the price the stream reports and the room's post channel. */
  client: NodeClient;
  stream: RoomStream;
  connected: boolean;
}

export class Room extends Emitter<RoomEvents> {
  readonly name: string;
  readonly hash: string;
  /** Our peer id in this room (random per join). */
  readonly selfId = randomId(16);
  /**
   * Our peer id on the wire (`?peer=` on our streams, `X-Room-Peer` on our posts),
   * so a node does not echo our posts back to us. Not `selfId`: a sealed room
   * hides that from the nodes. A node that predates this echoes anyway, and
   * `handle` drops our own envelopes by `from` (and `mid`) as before.
   */
  private readonly wirePeer = randomId(16);
  private readonly k: number;
  private readonly chosen = new Map<string, Chosen>();
  /** Nodes given up for this room, until this time. */
  private readonly excluded = new Map<string, number>();
  private readonly seen = new RecentIds(4096);
  private undecryptable = 0;
  private readonly reassembler = new Reassembler();
  /** Peers present, with when we last heard anything from each. */
  private readonly peers = new Map<string, number>();
  private lastPostMs = 0;
  /** How long the last accepted send took, solving included (what a post costs at the current price). */
  private lastSendCostMs = 0;
  private beating = false;
  private presenceTimer: ReturnType<typeof setInterval> | null = null;
  /** The bye's body (fixed: its proofs are bound to it) and a proof per node, browsers only. */
  private bye: { body: string; proofs: Map<string, PreparedBye> } | null = null;
  private preparingBye = false;
  private byeSent = false;
  private readonly page = pageEvents();
  private readonly onPageHide = (): void => {
    this.sendPreparedBye();
    void this.leave();
  };
  /** Signals that arrived while nobody listened (before joinPeers attached): kept for it. */
  private signalBacklog: RoomMessage[] = [];
  private inbox: Promise<void> = Promise.resolve();
  private left = false;
  private ice: { servers: IceServer[]; untilMs: number } | null = null;
  private readonly offDiscovery: () => void;
  private recoverTimer: ReturnType<typeof setTimeout> | null = null;
  private recoverDelayMs = RECOVER_MIN_MS;
  /** Set once any stream of the room was live: later streams are replacements. */
  private everLive = false;

  constructor(private readonly d: RoomDeps) {
    super();
    this.name = d.name;
    this.hash = d.hash;
    this.k = Math.max(1, d.k ?? 2);
    this.offDiscovery = d.discovery.on('change', () => this.fill());
  }

  /** Connects to the chosen nodes; resolves once one stream is open (then says hello). */
  async join(timeoutMs = 15_000): Promise<void> {
    this.fill();
    if (this.chosen.size === 0) throw new SigmeshError('no_nodes', 'no live node known for this room');
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(() => { off(); reject(new SigmeshError('network', 'no room stream opened in time')); }, timeoutMs);
      const off = this.on('nodes', (ns) => { if (ns.some((n) => n.connected)) { clearTimeout(t); off(); resolve(); } });
    });
    if (this.d.presence === false) return;
    this.startPresence();
    await this.send(null, { type: 'hello' }).catch((err: unknown) => this.emit('error', err));
  }

  /** Nodes in use, with their price and whether their stream is up. */
  nodes(): RoomNode[] {
    return [...this.chosen.values()].map((c) => ({ url: c.node.url, id: c.node.id, difficulty: c.node.difficulty, connected: c.connected }));
  }

  /**
   * STUN/TURN servers for RTCPeerConnection: the STUN URLs a chosen node advertises in
   * `GET /` plus TURN credentials from its `POST /token` (paid; cached for half their ttl).
   * Without credentials (the token request failed) only STUN is returned.
   */
  async iceServers(): Promise<IceServer[]> {
    const now = Date.now();
    if (this.ice && this.ice.untilMs > now) return this.ice.servers;
    const c = [...this.chosen.values()].sort((a, b) => Number(b.connected) - Number(a.connected))[0];
    if (!c) throw new SigmeshError('no_nodes', 'no node to ask for STUN/TURN');
    const stun = c.node.info.turn.filter((u) => u.startsWith('stun:') || u.startsWith('stuns:'));
    const servers: IceServer[] = stun.length ? [{ urls: stun }] : [];
    let ttlMs = 60_000;
    try {
      const creds = await this.d.discovery.client(c.node.url).turnCredentials();
      servers.push({ urls: creds.urls, username: creds.username, credential: creds.credential });
      ttlMs = Math.max(60_000, (creds.ttl * 1000) / 2);
    } catch (err) {
      this.emit('error', err);
    }
    this.ice = { servers, untilMs: now + ttlMs };
    return servers;
  }

  /**
   * Takes the signals that arrived while no `signal` listener was attached, oldest
   * first. A peer's offer can arrive between `joinRoom` and `joinPeers` (which first
   * buys TURN credentials); without this it would be lost and negotiation would stall.
   */
  drainSignals(): RoomMessage[] {
    const out = this.signalBacklog;
    this.signalBacklog = [];
    return out;
  }

  /**
   * Whether a bye can leave at once, without solving: in browsers its proofs are
   * solved ahead (a closing tab has no time to solve), so a closed tab leaves its
   * peers' lists at once from then on; before, they drop it after `peerTimeoutMs`.
   */
  byeReady(): boolean {
    const now = Date.now();
    return this.bye !== null && [...this.bye.proofs.values()].some((p) => this.byeProofGood(p, now));
  }

  /** Peers present in this room (not counting us). */
  peerIds(): string[] {
    return [...this.peers.keys()];
  }

  /**
   * Posts to every chosen node (each post paid with proof of work). Resolves when at
   * least one node accepted every part; rejects with the last error otherwise.
   */
  async send(data: unknown, opts: SendOptions = {}): Promise<void> {
    if (this.left && opts.type !== 'bye') throw new SigmeshError('closed', 'room left');
    const startMs = Date.now();
    this.lastPostMs = startMs;
    const env: Envelope = { v: 1, mid: randomId(12), from: this.selfId, t: opts.type ?? 'msg' };
    if (opts.to !== undefined) env.to = opts.to;
    if (data !== undefined && data !== null) env.data = data;
    this.seen.add(env.mid);
    let payload = asciiJson(env);
    if (this.d.key) payload = await seal(this.d.key, payload);
    let parts: string[];
    try { parts = fragment(payload, randomId(8)); } catch (err) {
      throw new SigmeshError('too_large', err instanceof Error ? err.message : 'message too large');
    }
    const targets = [...this.chosen.values()];
    if (targets.length === 0) throw new SigmeshError('no_nodes', 'no node to post to');
    let lastErr: unknown = null;
    const results = await Promise.all(targets.map(async (c) => {
      try {
        for (const part of parts) {
          const so = {
            peer: this.wirePeer,
            // Released (failed, or the room left): the channel is closed and must not open again.
            viaChannel: () => this.chosen.get(c.node.url) === c,
            ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
          };
          await c.client.postRoom(this.hash, part, so);
        }
        return true;
      } catch (err) {
        lastErr = err;
        if (err instanceof SigmeshError && err.code === 'network') this.nodeFailed(c.node.url);
        return false;
      }
    }));
    if (!results.some(Boolean)) throw lastErr ?? new SigmeshError('network', 'no node accepted the message');
    this.lastSendCostMs = Date.now() - startMs;
  }

  /** Milliseconds the last accepted send took, proof of work included (0 before any). */
  sendCostMs(): number {
    return this.lastSendCostMs;
  }

  /** Says bye (best effort, bounded; at once when its proof is ready) and closes every stream. */
  async leave(): Promise<void> {
    if (this.left) return;
    this.left = true;
    this.offDiscovery();
    this.stopPresence();
    if (this.d.presence !== false && !this.byeSent && !this.sendPreparedBye()) {
      await this.send(null, { type: 'bye', signal: AbortSignal.timeout(5000) }).catch(() => undefined);
    }
    for (const c of this.chosen.values()) this.release(c);
    this.chosen.clear();
    if (this.recoverTimer) clearTimeout(this.recoverTimer);
    this.recoverTimer = null;
    this.removeAllListeners();
  }

  private startPresence(): void {
    const beatMs = this.d.heartbeatMs ?? HEARTBEAT_MS;
    const tickMs = Math.min(1000, Math.max(10, Math.floor(beatMs / 4)));
    this.presenceTimer = setInterval(() => this.presenceTick(), tickMs);
    (this.presenceTimer as { unref?: () => void }).unref?.();
    this.page?.addEventListener('pagehide', this.onPageHide);
  }

  private stopPresence(): void {
    if (this.presenceTimer) clearInterval(this.presenceTimer);
    this.presenceTimer = null;
    this.page?.removeEventListener('pagehide', this.onPageHide);
  }

  /** Drops members gone silent, beats when we have been quiet, keeps the bye's proofs fresh. */
  private presenceTick(): void {
    if (this.left) return;
    const now = Date.now();
    const timeoutMs = this.d.peerTimeoutMs ?? PEER_TIMEOUT_MS;
    for (const [id, seenMs] of this.peers) {
      if (now - seenMs >= timeoutMs) {
        this.peers.delete(id);
        this.emit('peer-left', { id });
      }
    }
    if (!this.beating && now - this.lastPostMs >= (this.d.heartbeatMs ?? HEARTBEAT_MS)) {
      this.beating = true;
      void this.send(null, { type: 'beat' }).catch((err: unknown) => this.emit('error', err)).finally(() => { this.beating = false; });
    }
    // Only after 2 s without posts: not in the way of the signals right after a join.
    if (this.page && !this.preparingBye && now - this.lastPostMs >= 2000) void this.prepareBye();
  }

  /**
   * Solves the bye's proofs ahead (one per chosen node, renewed before its token
   * expires): on pagehide there is no time to solve, only to start a fetch that
   * outlives the page.
   */
  private async prepareBye(): Promise<void> {
    const now = Date.now();
    const due = [...this.chosen.values()].filter((c) => {
      const p = this.bye?.proofs.get(c.node.url);
      return c.connected && !(p && this.byeProofGood(p, now));
    });
    if (due.length === 0) return;
    this.preparingBye = true;
    try {
      if (!this.bye) {
        const env: Envelope = { v: 1, mid: randomId(12), from: this.selfId, t: 'bye' };
        this.seen.add(env.mid);
        const body = this.d.key ? await seal(this.d.key, asciiJson(env)) : asciiJson(env);
        this.bye = { body, proofs: new Map() };
      }
      for (const c of due) {
        if (this.left) return;
        const paid = await this.d.discovery.client(c.node.url).prepay('POST', `/room/${this.hash}`, this.bye.body, BYE_BID_FACTOR);
        if (paid !== null) this.bye.proofs.set(c.node.url, { url: c.node.url, ...paid, untilMs: Date.now() + BYE_PROOF_MS });
      }
    } catch (err) {
      this.emit('error', err);
    } finally {
      this.preparingBye = false;
    }
  }

  /** A pre-paid bye still accepted: its token not too old, its bid at least the node's current price, its node still ours. */
  private byeProofGood(p: PreparedBye, now: number): boolean {
    const price = this.d.discovery.client(p.url).price(`/room/${this.hash}`);
    return p.untilMs > now && this.chosen.has(p.url) && (price === undefined || Number(price.work) <= p.work);
  }

  /** Fires the pre-paid bye at every node it has a fresh proof for; false when there is none. */
  private sendPreparedBye(): boolean {
    if (this.byeSent || !this.bye) return this.byeSent;
    const now = Date.now();
    const fresh = [...this.bye.proofs.values()].filter((p) => this.byeProofGood(p, now));
    if (fresh.length === 0) return false;
    this.byeSent = true;
    for (const p of fresh) this.d.discovery.client(p.url).beacon(`/room/${this.hash}`, this.bye.body, p.proof);
    return true;
  }

  /**
   * Tops the chosen set up to k from the ranking. Nodes given up for this
   * room come last: one that is live again beats having none.
   */
  private fill(): void {
    if (this.left) return;
    const now = Date.now();
    for (const [url, until] of this.excluded) if (until <= now) this.excluded.delete(url);
    const live = this.d.discovery.live();
    const ranked = [
      ...rankNodes(this.hash, live.filter((n) => !this.excluded.has(n.url))),
      ...rankNodes(this.hash, live.filter((n) => this.excluded.has(n.url))),
    ];
    let changed = false;
    for (const node of ranked) {
      if (this.chosen.size >= this.k) break;
      if (this.chosen.has(node.url)) continue;
      this.open(node);
      changed = true;
    }
    if (changed) this.emit('nodes', this.nodes());
    this.recoverIfEmpty();
  }

  /**
   * With no node left (every chosen one failed, even briefly), re-probes the
   * known nodes with backoff until one is live again: otherwise the room
   * would wait for the mesh's next periodic refresh, minutes away.
   */
  private recoverIfEmpty(): void {
    if (this.left || this.chosen.size > 0) {
      this.recoverDelayMs = RECOVER_MIN_MS;
      return;
    }
    if (this.recoverTimer) return;
    this.recoverTimer = setTimeout(() => {
      this.recoverTimer = null;
      this.recoverDelayMs = Math.min(this.recoverDelayMs * 2, RECOVER_MAX_MS);
      void this.d.discovery.refresh().catch(() => undefined).then(() => this.fill());
    }, this.recoverDelayMs);
  }

  private open(node: LiveNode): void {
    const client = this.d.discovery.client(node.url);
    const maxFailures = this.d.maxStreamFailures ?? 2;
    const entry: Chosen = {
      node,
      client,
      connected: false,
      stream: new RoomStream({
        nodeUrl: node.url,
        hash: this.hash,
        peer: this.wirePeer,
        // A message id is `<ms>-<seq>`: this asks for everything the node got since then.
        ...(this.everLive ? { lastEventId: `${Date.now() - FAILOVER_REPLAY_MS}-0` } : {}),
        ...(this.d.fetch ? { fetch: this.d.fetch } : {}),
        onMessage: (data) => this.receive(data),
        onPrice: (p) => client.setPrice(`/room/${this.hash}`, p),
        onOpen: () => {
          entry.connected = true;
          this.everLive = true;
          this.d.discovery.reportSuccess(node.url);
          this.emit('nodes', this.nodes());
        },
        onDown: (_err, failures) => {
          if (entry.connected) { entry.connected = false; this.emit('nodes', this.nodes()); }
          if (failures >= maxFailures) this.nodeFailed(node.url);
        },
      }),
    };
    this.chosen.set(node.url, entry);
    entry.stream.start();
  }

  /** Gives a node up for this room for a minute, tells discovery, and picks the next one. */
  private nodeFailed(url: string): void {
    const c = this.chosen.get(url);
    if (!c) return;
    this.release(c);
    this.chosen.delete(url);
    this.excluded.set(url, Date.now() + 60_000);
    this.d.discovery.reportFailure(url);
    this.emit('nodes', this.nodes());
    this.fill();
  }

  /** Stops using a node: its stream and the room's post channel to it (posts still in the channel finish over HTTP). */
  private release(c: Chosen): void {
    c.stream.stop();
    c.client.closeRoomChannel(this.hash, this.wirePeer);
  }

  private receive(body: string): void {
    // In order: decryption is async, and signaling depends on order (offer before candidates).
    this.inbox = this.inbox.then(() => this.handle(body)).catch((err: unknown) => this.emit('error', err));
  }

  private async handle(body: string): Promise<void> {
    const payload = this.reassembler.push(body);
    if (payload === null || this.left) return;
    const text = this.d.key ? await open(this.d.key, payload) : payload;
    if (text === null || (!this.d.key && payload.startsWith('e1.'))) {
      this.emit('undecryptable', { total: ++this.undecryptable });
      return;
    }
    const env = parseEnvelope(text);
    // Our own post: echoed by nodes that predate `?peer=`, and by replays (failover, resume) on any node.
    if (!env || env.from === this.selfId || !this.seen.add(env.mid)) return;
    // Anything a member posts, even to someone else, says it is still here.
    if (env.t !== 'bye' && this.peers.has(env.from)) this.peers.set(env.from, Date.now());
    if (env.to !== undefined && env.to !== this.selfId) return;
    if (env.t === 'bye') {
      if (this.peers.delete(env.from)) this.emit('peer-left', { id: env.from });
      return;
    }
    const isNew = !this.peers.has(env.from);
    if (isNew && this.peers.size < (this.d.maxPeers ?? 256)) {
      this.peers.set(env.from, Date.now());
      this.emit('peer', { id: env.from });
    }
    if (env.t === 'beat') return;
    if (env.t === 'hello') {
      // Answer a broadcast hello so the newcomer learns we are here.
      if (env.to === undefined && this.d.presence !== false) {
        void this.send(null, { type: 'hello', to: env.from }).catch((err: unknown) => this.emit('error', err));
      }
      return;
    }
    const msg: RoomMessage = { mid: env.mid, from: env.from, type: env.t, data: env.data };
    if (env.to !== undefined) msg.to = env.to;
    if (env.t === 'signal' && this.listenerCount('signal') === 0) {
      this.signalBacklog.push(msg);
      if (this.signalBacklog.length > MAX_SIGNAL_BACKLOG) this.signalBacklog.shift();
      return;
    }
    this.emit(env.t === 'signal' ? 'signal' : 'message', msg);
  }
}

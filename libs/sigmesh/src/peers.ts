/**
 * RTCPeerConnections with every other member of a room, signaled over the room:
 * "perfect negotiation" (the polite peer yields on offer collisions), and one
 * negotiated data channel per peer. Each room post costs proof of work, so signals are
 * few: only the impolite peer makes the first offer (the polite one answers it), a
 * description carries the candidates gathered within `candidateBatchMs` of it, and
 * the rest of that gathering goes in at most two more posts. Signals carry `to`, so
 * other members drop them.
 */
import { Emitter } from './emitter.js';
import type { Room, RoomMessage } from './room.js';
import type {
  DataChannelLike, IceCandidateInit, PeerConnectionCtor, PeerConnectionLike, RtcConfiguration, RtcIceServer, SessionDescription,
} from './rtc-types.js';

export interface PeersOptions {
  /** Full configuration; default: the room node's STUN/TURN (`room.iceServers()`). */
  rtcConfig?: RtcConfiguration;
  /** Force TURN relaying (`iceTransportPolicy: 'relay'`). */
  relayOnly?: boolean;
  /** Default: the global RTCPeerConnection. */
  RTCPeerConnection?: PeerConnectionCtor;
  /**
   * A description waits this long for candidates to travel with it; candidates after
   * it wait this long again, and the rest of the gathering goes when it completes.
   * So one negotiation costs at most 3 posts per side (1 when gathering completes
   * within the window, as with a nearby STUN/TURN). Default 300 ms.
   */
  candidateBatchMs?: number;
  /**
   * At most this many RTCPeerConnections at once (default 32): anyone who can
   * post to the room could otherwise make us open one per made-up peer id.
   */
  maxLinks?: number;
}

export interface PeersEvents {
  /** A connection object exists for this peer. */
  peer: { id: string; pc: PeerConnectionLike };
  /** The data channel with this peer is open. */
  channel: { id: string; channel: DataChannelLike };
  message: { id: string; data: unknown };
  /** The connection with this peer ended, and why (`failed`: ICE found no working path, even after a restart). */
  close: { id: string; reason: CloseReason };
  error: unknown;
}

export type ConnectionType = 'direct' | 'relayed' | 'unknown';

/**
 * `left`: the peer left the room (bye or silence); `failed`: ICE failed after its
 * restart; `stalled`: negotiation made no progress through every restart; `closed`:
 * we closed (or the connection was closed under us).
 */
export type CloseReason = 'left' | 'failed' | 'stalled' | 'closed';

/** A signal as applied: a description and/or remote candidates. */
interface SignalData {
  d?: SessionDescription;
  c?: IceCandidateInit[];
}

/** A candidate as posted: its `candidate` string (first m-line), or the whole init object. */
type WireCandidate = string | IceCandidateInit;

/** A signal as posted (`data` of a `signal` envelope). */
interface WireSignal {
  d?: SessionDescription;
  c?: WireCandidate[];
}

/** What we have to post for one local description's gathering (a generation). */
interface Outbox {
  /** Our new description, until it is posted. */
  d: SessionDescription | null;
  c: WireCandidate[];
  /** Posts made for this generation: the description (with candidates), then at most 2 batches. */
  posts: number;
  /** Gathering completed: whatever is left goes now, and this generation is done. */
  complete: boolean;
  /** The local ICE username fragment of this generation (candidates belong to it). */
  ufrag: string | null;
}

interface Link {
  pc: PeerConnectionLike;
  channel: DataChannelLike;
  polite: boolean;
  makingOffer: boolean;
  ignoreOffer: boolean;
  answerPending: boolean;
  queue: Promise<void>;
  out: Outbox;
  /** Remote candidates that arrived before the description they belong to (posts can overtake each other). */
  early: IceCandidateInit[];
  flush: ReturnType<typeof setTimeout> | null;
  restarted: boolean;
  /** Fires when the channel is still not open a while after the link began. */
  watchdog: ReturnType<typeof setTimeout> | null;
  kicks: number;
}

/** A link whose channel is not open after this long is renegotiated (a signal may have been lost). */
const STALL_MS = 8000;
/** Posts per generation: the description with early candidates, a batch after one more window, the rest at completion. */
const MAX_GENERATION_POSTS = 3;
const MAX_KICKS = 2;

/** Remote candidates held per peer until its description arrives. */
const MAX_EARLY_CANDIDATES = 128;

const DESC_TYPES: ReadonlySet<string> = new Set(['offer', 'answer', 'rollback', 'pranswer']);

/**
 * On the wire a candidate of the first m-line (mid "0": the data channel, with every
 * other track bundled on it) is just its `candidate` string, a third of the JSON
 * object's bytes; each signal post is paid by size (fragments of 1024 bytes). Any
 * other candidate keeps the object form.
 */
function compactCandidate(c: IceCandidateInit): WireCandidate {
  return typeof c.candidate === 'string' && c.sdpMLineIndex === 0 && (c.sdpMid === '0' || c.sdpMid == null) ? c.candidate : c;
}

function expandCandidate(c: unknown): IceCandidateInit | null {
  if (typeof c === 'string') return c.length <= 1024 ? { candidate: c, sdpMid: '0', sdpMLineIndex: 0 } : null;
  if (typeof c !== 'object' || c === null) return null;
  const o = c as IceCandidateInit;
  return typeof o.candidate === 'string' && o.candidate.length <= 1024 ? o : null;
}

function parseSignal(data: unknown): SignalData | null {
  if (typeof data !== 'object' || data === null) return null;
  const s = data as Record<string, unknown>;
  const out: SignalData = {};
  if (s.d !== undefined) {
    const d = s.d as Record<string, unknown>;
    if (typeof d !== 'object' || d === null || typeof d.type !== 'string' || !DESC_TYPES.has(d.type)) return null;
    if (d.sdp !== undefined && (typeof d.sdp !== 'string' || d.sdp.length > 16384)) return null;
    out.d = { type: d.type as SessionDescription['type'], ...(typeof d.sdp === 'string' ? { sdp: d.sdp } : {}) };
  }
  if (s.c !== undefined) {
    if (!Array.isArray(s.c) || s.c.length > 64) return null;
    out.c = s.c.map(expandCandidate).filter((c): c is IceCandidateInit => c !== null);
  }
  return out;
}

export class Peers extends Emitter<PeersEvents> {
  private readonly links = new Map<string, Link>();
  private readonly offs: (() => void)[] = [];
  private closed = false;
  /** Signals received before start, in order (the room's backlog first). */
  private pending: RoomMessage[] | null;

  constructor(
    private readonly room: Room, private readonly config: RtcConfiguration, private readonly Ctor: PeerConnectionCtor,
    private readonly batchMs: number, private readonly maxLinks: number,
  ) {
    super();
    this.pending = room.drainSignals();
    this.offs.push(
      room.on('peer', ({ id }) => { if (!this.pending) this.link(id); }),
      room.on('peer-left', ({ id }) => this.drop(id, 'left')),
      room.on('signal', (m) => this.onSignal(m)),
    );
    // Connections start on the next task, so the caller of joinPeers has subscribed to
    // 'peer' and 'channel' by then and sees every connection from the first.
    setTimeout(() => this.start(), 0);
  }

  private start(): void {
    const early = this.pending ?? [];
    this.pending = null;
    if (this.closed) return;
    for (const id of this.room.peerIds()) this.link(id);
    for (const m of early) this.onSignal(m);
  }

  /** Peers with an open data channel. */
  connected(): string[] {
    return [...this.links].filter(([, l]) => l.channel.readyState === 'open').map(([id]) => id);
  }

  send(id: string, data: string): boolean {
    const l = this.links.get(id);
    if (!l || l.channel.readyState !== 'open') return false;
    l.channel.send(data);
    return true;
  }

  broadcast(data: string): number {
    let n = 0;
    for (const id of this.links.keys()) if (this.send(id, data)) n++;
    return n;
  }

  /** Whether the selected ICE pair goes through a TURN relay. */
  async connectionType(id: string): Promise<ConnectionType> {
    const l = this.links.get(id);
    if (!l) return 'unknown';
    const stats = await l.pc.getStats();
    let pairId: string | undefined;
    stats.forEach((s) => { if (s.type === 'transport' && typeof s.selectedCandidatePairId === 'string') pairId = s.selectedCandidatePairId; });
    let pair: Record<string, unknown> | undefined = pairId ? stats.get(pairId) : undefined;
    if (!pair) stats.forEach((s) => { if (s.type === 'candidate-pair' && s.state === 'succeeded' && (s.nominated || s.selected)) pair ??= s; });
    const local = pair && typeof pair.localCandidateId === 'string' ? stats.get(pair.localCandidateId) : undefined;
    if (!local) return 'unknown';
    return local.candidateType === 'relay' ? 'relayed' : 'direct';
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const off of this.offs) off();
    for (const id of [...this.links.keys()]) this.drop(id, 'closed');
    this.removeAllListeners();
  }

  private link(id: string): Link | undefined {
    const existing = this.links.get(id);
    if (existing) return existing;
    if (this.links.size >= this.maxLinks) return undefined;
    const pc = new this.Ctor(this.config);
    // Negotiated channel: both sides open it the same way, no ondatachannel asymmetry.
    const channel = pc.createDataChannel('sigmesh', { negotiated: true, id: 0 });
    const l: Link = {
      pc, channel, polite: this.room.selfId < id, makingOffer: false, ignoreOffer: false, answerPending: false,
      queue: Promise.resolve(), out: { d: null, c: [], posts: 0, complete: false, ufrag: null }, early: [], flush: null, restarted: false, watchdog: null, kicks: 0,
    };
    this.armWatchdog(id, l);
    this.links.set(id, l);
    pc.addEventListener('negotiationneeded', () => {
      // The first offer is the impolite peer's: both sides' channels need negotiating, and
      // two crossing offers would cost the polite one a wasted paid post. If that offer
      // never comes, the watchdog's ICE restart makes ours.
      if (l.polite && l.kicks === 0 && !pc.remoteDescription && pc.signalingState === 'stable') return;
      l.queue = l.queue.then(async () => {
        try {
          l.makingOffer = true;
          await pc.setLocalDescription();
          this.described(id, l);
        } catch (err) {
          this.emit('error', err);
        } finally {
          l.makingOffer = false;
        }
      });
    });
    pc.addEventListener('icecandidate', ({ candidate }) => {
      if (!candidate) {
        l.out.complete = true;
        return this.flush(id, l);
      }
      l.out.c.push(compactCandidate(candidate.toJSON()));
      // After the description and one batch, the rest waits for the end of gathering.
      if (l.out.d === null && l.out.posts < MAX_GENERATION_POSTS - 1) l.flush ??= setTimeout(() => this.flush(id, l), this.batchMs);
    });
    pc.addEventListener('connectionstatechange', () => {
      if (pc.connectionState === 'failed' && !l.restarted) { l.restarted = true; pc.restartIce(); }
      else if (pc.connectionState === 'failed' || pc.connectionState === 'closed') this.drop(id, pc.connectionState);
    });
    channel.addEventListener('open', () => this.emit('channel', { id, channel }));
    channel.addEventListener('message', (ev) => this.emit('message', { id, data: ev.data }));
    this.emit('peer', { id, pc });
    return l;
  }

  /**
   * Perfect negotiation cannot recover from a lost signal: an impolite peer whose offer
   * vanished waits for an answer forever and ignores the other's offers. After a stall,
   * drop our unanswered offer and restart ICE, which makes a fresh offer with new
   * credentials (at most MAX_KICKS times; 'failed' has its own one restart).
   *
   * A stall is no progress (no signal from the peer, none of ours accepted) for
   * STALL_MS plus twice what a post costs us now: the peer pays about as much for its
   * reply, so at a high price (seconds per post) the wait grows with it instead of
   * restarting negotiations that are merely paying.
   */
  private armWatchdog(id: string, l: Link): void {
    if (l.watchdog) clearTimeout(l.watchdog);
    l.watchdog = setTimeout(() => {
      l.watchdog = null;
      if (this.closed || this.links.get(id) !== l || l.channel.readyState !== 'connecting') return;
      // Still not open after every restart: free the slot (a later signal from this peer starts afresh).
      if (l.kicks >= MAX_KICKS) return this.drop(id, 'stalled');
      l.kicks++;
      l.queue = l.queue.then(async () => {
        if (l.pc.signalingState === 'have-local-offer') await l.pc.setLocalDescription({ type: 'rollback' });
        l.pc.restartIce();
      }).catch((err: unknown) => this.emit('error', err));
      this.armWatchdog(id, l);
    }, STALL_MS + 2 * this.room.sendCostMs());
  }

  /** Negotiation moved: the stall clock starts again (only while the channel is not open). */
  private progressed(id: string): void {
    const l = this.links.get(id);
    if (l && l.watchdog && l.channel.readyState === 'connecting') this.armWatchdog(id, l);
  }

  /** A new local description: a new generation, posted with what gathers within the window. */
  private described(id: string, l: Link): void {
    const desc = l.pc.localDescription;
    if (!desc) return;
    if (l.flush) { clearTimeout(l.flush); l.flush = null; }
    // Unposted candidates of the same ICE credentials still count (an answer after our
    // rolled-back offer keeps them, and they are not gathered again); an ICE restart's
    // new credentials make them stale.
    const ufrag = /^a=ice-ufrag:(\S+)/m.exec(desc.sdp)?.[1] ?? null;
    const carried = ufrag !== null && ufrag === l.out.ufrag ? l.out.c : [];
    l.out = { d: { type: desc.type as SessionDescription['type'], sdp: desc.sdp }, c: carried, posts: 0, complete: l.out.complete && carried === l.out.c, ufrag };
    l.flush = setTimeout(() => this.flush(id, l), this.batchMs);
  }

  /** Posts what the generation has pending (the description and/or candidates) in one signal. */
  private flush(id: string, l: Link): void {
    if (l.flush) { clearTimeout(l.flush); l.flush = null; }
    const out = l.out;
    if (out.d === null && out.c.length === 0) return;
    if (out.d === null && out.posts >= MAX_GENERATION_POSTS - 1 && !out.complete) return;
    const data: WireSignal = {};
    if (out.d) data.d = out.d;
    if (out.c.length) data.c = out.c.splice(0, out.c.length);
    out.d = null;
    out.posts++;
    this.signal(id, data);
  }

  private signal(to: string, data: WireSignal): void {
    if (this.closed) return;
    this.room.send(data, { type: 'signal', to }).then(() => this.progressed(to), (err: unknown) => this.emit('error', err));
  }

  private onSignal(m: RoomMessage): void {
    if (this.pending) {
      if (this.pending.length < 256) this.pending.push(m);
      return;
    }
    const s = parseSignal(m.data);
    if (!s || this.closed) return;
    // Signals only from members the room tracks (it bounds them), into a bounded set of links.
    if (!this.links.has(m.from) && !this.room.peerIds().includes(m.from)) return;
    const l = this.link(m.from);
    if (!l) return;
    this.progressed(m.from);
    l.queue = l.queue.then(() => this.apply(m.from, l, s)).catch((err: unknown) => this.emit('error', err));
  }

  /** Perfect negotiation, as in the WebRTC 1.0 specification's example. */
  private async apply(id: string, l: Link, s: SignalData): Promise<void> {
    const { pc } = l;
    if (s.d) {
      const readyForOffer = !l.makingOffer && (pc.signalingState === 'stable' || l.answerPending);
      const collision = s.d.type === 'offer' && !readyForOffer;
      l.ignoreOffer = !l.polite && collision;
      if (l.ignoreOffer) return;
      l.answerPending = s.d.type === 'answer';
      await pc.setRemoteDescription(s.d);
      l.answerPending = false;
      if (s.d.type === 'offer') {
        await pc.setLocalDescription();
        this.described(id, l);
      }
      // Candidates that overtook this description; some may belong to an offer we
      // ignored, so their failures are expected and not reported.
      for (const c of l.early.splice(0, l.early.length)) await pc.addIceCandidate(c).catch(() => undefined);
    }
    for (const c of s.c ?? []) {
      if (!pc.remoteDescription) {
        if (l.early.length < MAX_EARLY_CANDIDATES) l.early.push(c);
        continue;
      }
      try {
        await pc.addIceCandidate(c);
      } catch (err) {
        if (!l.ignoreOffer) this.emit('error', err);
      }
    }
  }

  private drop(id: string, reason: CloseReason): void {
    const l = this.links.get(id);
    if (!l) return;
    this.links.delete(id);
    if (l.flush) clearTimeout(l.flush);
    if (l.watchdog) clearTimeout(l.watchdog);
    l.channel.close();
    l.pc.close();
    this.emit('close', { id, reason });
  }
}

/** Starts the peers helper for a joined room. */
export async function joinPeers(room: Room, opts: PeersOptions = {}): Promise<Peers> {
  const Ctor = opts.RTCPeerConnection ?? (globalThis as { RTCPeerConnection?: PeerConnectionCtor }).RTCPeerConnection;
  if (!Ctor) {
    // Node has no WebRTC of its own: the caller brings an implementation.
    throw new TypeError('RTCPeerConnection is not available here: pass joinPeers(room, { RTCPeerConnection }) with an implementation (Node has none)');
  }
  let config: RtcConfiguration;
  if (opts.rtcConfig) config = { ...opts.rtcConfig };
  else {
    const iceServers: RtcIceServer[] = await room.iceServers();
    config = { iceServers };
  }
  if (opts.relayOnly) config.iceTransportPolicy = 'relay';
  return new Peers(room, config, Ctor, opts.candidateBatchMs ?? 300, Math.max(1, opts.maxLinks ?? 32));
}

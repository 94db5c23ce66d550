/**
 * Client of one mesh node: its `GET /` facts, `/nodes`, `/token` and room posts,
 * paying proof of work where the node asks for it (402 carries a fresh token and the
 * price, so we solve again at once). Room posts go over the room's post channel
 * (a WebSocket) where the runtime has one and the node offers it, else over HTTP.
 */
import { SigmeshError } from './errors.js';
import { defaultFetch, isRecord, readJson, withTimeout, type FetchLike } from './http.js';
import { PostChannel, type ChannelSocketCtor } from './post-channel.js';
import type { Solver, SolveProgress } from './solver.js';

/** `GET /` of a node (PROTOCOL.md). */
export interface NodeInfo {
  id: string;
  url: string;
  network: string;
  token: string;
  work: number;
  difficulty: number;
  load: number;
  expires: number;
  turn: string[];
  version: string;
}

/** A price quote for one endpoint path. */
export interface Price {
  token: string;
  work: string;
  difficulty?: number;
}

/** The shape of an `RTCIceServer`. */
export interface IceServer {
  urls: string | string[];
  username?: string;
  credential?: string;
}

export interface TurnCredentials extends IceServer {
  urls: string[];
  username: string;
  credential: string;
  ttl: number;
}

export interface NodeClientOptions {
  fetch?: FetchLike;
  /** Needed for paid endpoints. */
  solver?: Solver;
  /** Per HTTP request (not counting solving). Default 10 s. */
  timeoutMs?: number;
  /** Requests per paid call, the first possibly unpaid to learn the price. Default 4. */
  maxPowAttempts?: number;
  /** A remembered price older than this is not used (tokens expire). Default 240 s. */
  priceTtlMs?: number;
  /**
   * WebSocket constructor for room post channels. Default the runtime's global
   * `WebSocket` (browsers; Node 20 has none); null: room posts always go over HTTP.
   */
  webSocket?: ChannelSocketCtor | null;
}

export interface PaidRequestOptions {
  body?: string;
  contentType?: string;
  signal?: AbortSignal;
  onProgress?: (p: SolveProgress) => void;
  /**
   * Headers a node that predates them may refuse (outside the proof). Browsers
   * refuse the request when the node's CORS preflight does not list them; the
   * request then goes again at once, same proof, without them, and they are left
   * off for this node for `OPTIONAL_HEADERS_OFF_MS`.
   */
  optionalHeaders?: Record<string, string>;
}

export interface RoomPostOptions extends Omit<PaidRequestOptions, 'body' | 'contentType' | 'optionalHeaders'> {
  /** Our peer id in the room (`X-Room-Peer`): a node that knows it keeps the post off our own streams. */
  peer?: string;
  /**
   * Asked before each try: false sends it over HTTP. A room says false once it
   * has let the node go, so a post still under way does not open a channel that
   * nobody would close.
   */
  viaChannel?: () => boolean;
}

/** Peer id of `?peer=` and `X-Room-Peer` (PROTOCOL). */
const ROOM_PEER = /^[0-9a-f]{16,64}$/;

/** Once a node's CORS refused an optional header, it goes without for this long, then is tried again (the node may be upgraded). */
const OPTIONAL_HEADERS_OFF_MS = 10 * 60_000;

/** A node whose post channel failed (never opened: old node's 404 upgrade) gets HTTP posts for this long, then is tried again. */
const CHANNEL_OFF_MS = 10 * 60_000;
/**
 * A room's channel that opened and then closed on its own is reopened on the
 * next post, but at most once this long per room and peer id (posts in between
 * go over HTTP): no reopen storm against a node that keeps dropping it.
 */
const CHANNEL_REOPEN_MS = 5_000;
/** Rooms remembered for `CHANNEL_REOPEN_MS`; past it the oldest is forgotten. */
const MAX_DROPPED = 256;
/** Post channels open at once to one node (one per room in use); a room past it posts over HTTP. */
const MAX_CHANNELS = 8;

/**
 * Status of the error codes a post's answer frame can carry (PROTOCOL's catalogue):
 * a refusal over the channel becomes the same SigmeshError as over HTTP. A copy of
 * those rows of the server's catalogue: sigmesh is published on its own and does not
 * depend on @mesh/shared.
 */
const POST_ERROR_STATUS: Readonly<Record<string, number>> = {
  bad_request: 400,
  pow_required: 402, pow_malformed: 402, pow_invalid: 402, pow_expired: 402, pow_insufficient: 402, pow_replayed: 402,
  not_found: 404, payload_too_large: 413, unsupported_media_type: 415,
  too_many_requests: 429, rate_limited: 429, internal: 500, unavailable: 503,
};

/** One paid try: done, or refused with 402 (the refusal's body carries the fresh price). */
type Attempt<T> = { done: T } | { refusal: unknown };

/** One HTTP try's answer; `resent`: it is a second send of the same request, whose first send's fate is unknown. */
interface HttpAnswer {
  res: Response;
  resent: boolean;
}

/** The runtime's WebSocket, if it has one (browsers, Node 22+). */
function globalWebSocket(): ChannelSocketCtor | null {
  const ws = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof ws === 'function' ? (ws as ChannelSocketCtor) : null;
}

const HEX64 = /^[0-9a-f]{64}$/;
const HEX40 = /^[0-9a-f]{40}$/;
const MAX_JSON = 64 * 1024;

/** Canonical form of a node URL: its origin (`http(s)://host[:port]`), or null if unusable. */
export function normalizeNodeUrl(raw: string): string | null {
  if (typeof raw !== 'string' || raw.length > 2048) return null;
  let u: URL;
  try { u = new URL(raw); } catch { return null; }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
  if (u.username || u.password || (u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) return null;
  return u.origin;
}

/** A request whose headers are a plain record (so optional ones can be added or left off). */
type PlainHeadersInit = RequestInit & { headers: Record<string, string> };

export function isRoomHash(hash: string): boolean {
  return HEX64.test(hash) || HEX40.test(hash);
}

export function isRoomPeer(peer: string): boolean {
  return ROOM_PEER.test(peer);
}

function channelKey(hash: string, peer: string | undefined): string {
  return `${hash}/${peer ?? ''}`;
}

/** fetch's own failure (TypeError): nothing answered, which is also how a browser reports a refused CORS preflight. */
function isFetchFailure(err: unknown): boolean {
  return err instanceof SigmeshError && err.code === 'network' && err.cause instanceof TypeError;
}

export function parsePrice(v: unknown): Price | null {
  if (!isRecord(v) || typeof v.token !== 'string' || v.token.length > 512) return null;
  const work = typeof v.work === 'number' ? v.work : typeof v.work === 'string' ? Number(v.work) : NaN;
  if (!Number.isSafeInteger(work) || work < 1) return null;
  return { token: v.token, work: String(work), ...(typeof v.difficulty === 'number' ? { difficulty: v.difficulty } : {}) };
}


function parseInfo(v: unknown): NodeInfo {
  const bad = (what: string): never => { throw new SigmeshError('bad_response', `GET / has no valid ${what}`); };
  if (!isRecord(v)) return bad('object');
  const id = typeof v.id === 'string' && HEX64.test(v.id) ? v.id : bad('id');
  const price = parsePrice(v) ?? bad('token/work');
  const turn = Array.isArray(v.turn) ? v.turn.filter((t): t is string => typeof t === 'string' && t.length <= 256).slice(0, 16) : [];
  return {
    id,
    url: typeof v.url === 'string' ? v.url : '',
    network: typeof v.network === 'string' && HEX40.test(v.network) ? v.network : '',
    token: price.token,
    work: Number(price.work),
    difficulty: typeof v.difficulty === 'number' ? v.difficulty : Math.log2(Number(price.work)),
    load: typeof v.load === 'number' ? v.load : 0,
    expires: typeof v.expires === 'number' ? v.expires : 0,
    turn,
    version: typeof v.version === 'string' ? v.version : '',
  };
}

export class NodeClient {
  readonly url: string;
  private readonly fetch: FetchLike;
  private readonly timeoutMs: number;
  private readonly maxAttempts: number;
  private readonly priceTtlMs: number;
  private readonly prices = new Map<string, Price & { atMs: number }>();
  /** A request with optional headers got an answer: they pass this node's CORS, never drop them. */
  private optionalHeadersOk = false;
  /** Optional headers are left off until then (this node's CORS refused them). */
  private optionalHeadersOffUntilMs = 0;
  private readonly webSocket: ChannelSocketCtor | null;
  /** Open post channels, by room hash and peer id. */
  private readonly channels = new Map<string, PostChannel>();
  /** Room posts go over HTTP until then (this node's channel failed). */
  private channelsOffUntilMs = 0;
  /** Rooms whose channel opened and then closed on its own, by channel key: when it was last reopened (0: not yet). */
  private readonly dropped = new Map<string, number>();

  constructor(url: string, private readonly opts: NodeClientOptions = {}) {
    const u = normalizeNodeUrl(url);
    if (!u) throw new SigmeshError('bad_response', `not a node URL: ${url}`);
    this.url = u;
    this.fetch = opts.fetch ?? defaultFetch;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.maxAttempts = Math.max(1, opts.maxPowAttempts ?? 4);
    this.priceTtlMs = opts.priceTtlMs ?? 240_000;
    this.webSocket = opts.webSocket === undefined ? globalWebSocket() : opts.webSocket;
  }

  async info(signal?: AbortSignal): Promise<NodeInfo> {
    const res = await this.send('/', { method: 'GET', headers: { Accept: 'application/json' } }, signal);
    await this.expectOk(res);
    return parseInfo(await readJson(res, MAX_JSON));
  }

  async nodes(n = 20, signal?: AbortSignal): Promise<string[]> {
    const res = await this.send(`/nodes?n=${Math.min(100, Math.max(1, Math.floor(n)))}`, { method: 'GET', headers: { Accept: 'application/json' } }, signal);
    await this.expectOk(res);
    const list = await readJson(res, MAX_JSON);
    if (!Array.isArray(list)) throw new SigmeshError('bad_response', '/nodes is not an array');
    return list.filter((x): x is string => typeof x === 'string').slice(0, 100);
  }

  /** Remembers the price of a path (e.g. from a room stream's `price` event). */
  setPrice(path: string, price: Price): void {
    this.prices.set(path, { ...price, atMs: Date.now() });
    if (this.prices.size > 256) this.prices.delete(this.prices.keys().next().value!);
  }

  price(path: string): Price | undefined {
    const p = this.prices.get(path);
    if (!p || Date.now() - p.atMs > this.priceTtlMs) return undefined;
    return p;
  }

  /** TURN credentials from `POST /token` (paid). */
  async turnCredentials(opts: Omit<PaidRequestOptions, 'body'> = {}): Promise<TurnCredentials> {
    const res = await this.paid('POST', '/token', opts);
    await this.expectOk(res);
    const v = await readJson(res, MAX_JSON);
    if (!isRecord(v) || !Array.isArray(v.urls) || typeof v.username !== 'string' || typeof v.credential !== 'string') {
      throw new SigmeshError('bad_response', '/token answer has the wrong shape');
    }
    return {
      urls: v.urls.filter((u): u is string => typeof u === 'string').slice(0, 16),
      username: v.username,
      credential: v.credential,
      ttl: typeof v.ttl === 'number' ? v.ttl : 0,
    };
  }

  /**
   * Posts a message body to a room (paid); resolves to the node's message id
   * ('' when the node had taken the post over a channel that died before
   * answering). With `peer`, streams tagged with it (`?peer=`) are not sent the
   * post; a node that predates this echoes it anyway.
   *
   * With a WebSocket constructor, the post goes over the room's post channel on
   * this node (opened on the first post, one per room and peer id), with the
   * same proof, refusals and retries as over HTTP. A channel that fails to open
   * sends this node's posts over HTTP for `CHANNEL_OFF_MS`; one that opened and
   * then died is reopened on the next post (once per `CHANNEL_REOPEN_MS`). A post
   * sent when the channel died, or whose HTTP send is repeated without the
   * optional header, goes again with the same proof, where `pow_replayed` means
   * the node has it.
   */
  async postRoom(hash: string, body: string, opts: RoomPostOptions = {}): Promise<string> {
    if (!isRoomHash(hash)) throw new SigmeshError('bad_response', 'bad room hash');
    const { peer, viaChannel, ...rest } = opts;
    if (peer !== undefined && !isRoomPeer(peer)) throw new SigmeshError('bad_response', 'bad room peer id');
    const path = `/room/${hash}`;
    const http: PaidRequestOptions = {
      ...rest, body, contentType: 'text/plain;charset=utf-8', ...(peer !== undefined ? { optionalHeaders: { 'X-Room-Peer': peer } } : {}),
    };
    return this.payLoop<string>('POST', path, body, rest, async (proof) => {
      let replayMeansTaken = false;
      const channel = viaChannel?.() === false ? null : this.channel(hash, peer);
      if (channel) {
        const r = await channel.post(proof, body, rest.signal);
        if (r.kind === 'answer') return this.channelAnswer(path, r.answer);
        replayMeansTaken = r.kind === 'lost' && proof !== undefined;
      }
      const { res, resent } = await this.httpAttempt('POST', path, proof, http);
      if (res.status === 402) {
        const refusal = await readJson(res, MAX_JSON).catch(() => null);
        // This proof went out before (on the channel before it died, or on a fetch that failed): the node took it then.
        if ((replayMeansTaken || (resent && proof !== undefined)) && isRecord(refusal) && refusal.error === 'pow_replayed') return { done: '' };
        return { refusal };
      }
      await this.expectOk(res);
      const v = await readJson(res, MAX_JSON);
      if (!isRecord(v) || typeof v.id !== 'string') throw new SigmeshError('bad_response', 'room post answer has no id');
      return { done: v.id };
    });
  }

  /** Closes a room's post channel (the room left this node); posts it still carried go over HTTP. */
  closeRoomChannel(hash: string, peer?: string): void {
    const key = channelKey(hash, peer);
    this.channels.get(key)?.close();
    this.dropped.delete(key);
  }

  /** Closes every post channel to this node. */
  closeChannels(): void {
    for (const c of [...this.channels.values()]) c.close();
    this.dropped.clear();
  }

  /** Post channels open (or opening) to this node. */
  get channelCount(): number {
    return this.channels.size;
  }

  /**
   * The room's open channel, a new one, or null: no WebSocket, this node's
   * channel failed lately, the room's was reopened lately, or too many open.
   */
  private channel(hash: string, peer: string | undefined): PostChannel | null {
    if (!this.webSocket || Date.now() < this.channelsOffUntilMs) return null;
    const key = channelKey(hash, peer);
    const open = this.channels.get(key);
    if (open) return open;
    if (this.channels.size >= MAX_CHANNELS) return null;
    const reopenedAtMs = this.dropped.get(key);
    if (reopenedAtMs !== undefined) {
      if (Date.now() - reopenedAtMs < CHANNEL_REOPEN_MS) return null;
      this.dropped.set(key, Date.now());
    }
    const url = new URL(`${this.url}/room/${hash}`);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    if (peer !== undefined) url.searchParams.set('peer', peer);
    const channel = new PostChannel({
      url: url.href,
      socket: this.webSocket,
      timeoutMs: this.timeoutMs,
      onClose: ({ failed }) => {
        if (this.channels.get(key) === channel) this.channels.delete(key);
        if (failed) {
          this.channelsOffUntilMs = Date.now() + CHANNEL_OFF_MS;
        } else if (!this.dropped.has(key)) {
          // Opened, then closed (on its own or timed out; an owner's close forgets the key right after).
          if (this.dropped.size >= MAX_DROPPED) this.dropped.delete(this.dropped.keys().next().value!);
          this.dropped.set(key, 0);
        }
      },
    });
    this.channels.set(key, channel);
    return channel;
  }

  /** A channel's answer frame, read as its HTTP answer would be: the id, a 402 refusal, or the same error. */
  private channelAnswer(path: string, v: Record<string, unknown>): Attempt<string> {
    const code = typeof v.error === 'string' ? v.error : undefined;
    if (code === undefined) {
      if (typeof v.id !== 'string') throw new SigmeshError('bad_response', 'room post answer has no id');
      return { done: v.id };
    }
    const status = POST_ERROR_STATUS[code];
    if (status === 402) return { refusal: v };
    throw new SigmeshError('http', `${this.url}${path}: ${status !== undefined ? `HTTP ${status}` : 'post channel'} (${code})`, status, code);
  }

  /**
   * Solves a proof now for a request sent later (a bye fired while the page unloads):
   * bound to this method, path and body, good while the remembered price's token is
   * accepted. It bids `factor` times the current price, so a price that rises a while
   * later still accepts it. Null when the path's price is not known yet.
   */
  async prepay(
    method: 'GET' | 'POST', path: string, body: string, factor = 1, opts: Omit<PaidRequestOptions, 'body' | 'contentType'> = {},
  ): Promise<{ proof: string; work: number } | null> {
    const price = this.price(path);
    if (!price) return null;
    if (!this.opts.solver) throw new SigmeshError('pow_exhausted', `${path} needs proof of work but no solver was given`);
    const so = { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
    const work = Math.ceil(Number(price.work) * Math.max(1, factor));
    return { proof: await this.opts.solver.solve({ token: price.token, work, method, path, body }, so), work };
  }

  /**
   * Fires a POST that may outlive the page (`keepalive`), with a proof from `prepay`;
   * nobody reads its answer. Keepalive bodies are limited to 64 KB, ours are 1 KB.
   * No `X-Room-Peer`: a node whose CORS predates it would refuse the request, and
   * an unloading page cannot try again without it (`navigator.sendBeacon` could
   * not set it at all); the echo of a bye reaches only streams being closed.
   */
  beacon(path: string, body: string, proof: string): void {
    const init: RequestInit = {
      method: 'POST', body, keepalive: true,
      headers: { 'Content-Type': 'text/plain;charset=utf-8', 'X-PoW': proof },
    };
    this.fetch(this.url + path, init).then((res) => res.body?.cancel(), () => undefined).catch(() => undefined);
  }

  /**
   * A request to a PoW-gated endpoint. Pays with the remembered price if any; on 402
   * takes the fresh token and price from the refusal and solves again.
   */
  async paid(method: 'GET' | 'POST', path: string, opts: PaidRequestOptions = {}): Promise<Response> {
    return this.payLoop<Response>(method, path, opts.body ?? '', opts, async (proof) => {
      const { res } = await this.httpAttempt(method, path, proof, opts);
      if (res.status !== 402) return { done: res };
      return { refusal: await readJson(res, MAX_JSON).catch(() => null) };
    });
  }

  /**
   * The payment loop of every paid request, whichever way it travels: pays with
   * the remembered price if any (else tries unpaid, to learn it), and on a
   * refusal takes its fresh token and price and solves again.
   */
  private async payLoop<T>(
    method: 'GET' | 'POST', path: string, body: string, opts: Pick<PaidRequestOptions, 'signal' | 'onProgress'>,
    attempt: (proof: string | undefined) => Promise<Attempt<T>>,
  ): Promise<T> {
    let lastCode = '';
    for (let i = 0; i < this.maxAttempts; i++) {
      let proof: string | undefined;
      const price = this.price(path);
      if (price) {
        if (!this.opts.solver) throw new SigmeshError('pow_exhausted', `${path} needs proof of work but no solver was given`);
        const so = { ...(opts.signal ? { signal: opts.signal } : {}), ...(opts.onProgress ? { onProgress: opts.onProgress } : {}) };
        proof = await this.opts.solver.solve({ token: price.token, work: price.work, method, path, body }, so);
      }
      const r = await attempt(proof);
      if ('done' in r) return r.done;
      const fresh = parsePrice(r.refusal);
      lastCode = isRecord(r.refusal) && typeof r.refusal.error === 'string' ? r.refusal.error : '';
      if (!fresh) throw new SigmeshError('bad_response', '402 without token and work', 402, lastCode);
      this.setPrice(path, fresh);
    }
    throw new SigmeshError('pow_exhausted', `${path}: still refused after ${this.maxAttempts} attempts (${lastCode})`, 402, lastCode);
  }

  /** One HTTP try of a paid request, with `proof` as its X-PoW when there is one. */
  private httpAttempt(method: 'GET' | 'POST', path: string, proof: string | undefined, opts: PaidRequestOptions): Promise<HttpAnswer> {
    const headers: Record<string, string> = { Accept: 'application/json' };
    if (opts.contentType) headers['Content-Type'] = opts.contentType;
    if (proof !== undefined) headers['X-PoW'] = proof;
    const init: PlainHeadersInit = { method, headers };
    if (opts.body !== undefined) init.body = opts.body;
    return this.sendOptional(path, init, opts.optionalHeaders, opts.signal);
  }

  /**
   * Sends with `optional` headers added, unless this node's CORS refused them
   * lately. A refused preflight sends nothing, so the same proof can go again
   * without them; but the first try may have reached the node (a failed fetch
   * does not say), so the answer says `resent`: a `pow_replayed` to it means
   * the node took the first (`postRoom` counts the post delivered).
   */
  private async sendOptional(
    path: string, init: PlainHeadersInit, optional: Record<string, string> | undefined, signal?: AbortSignal,
  ): Promise<HttpAnswer> {
    if (!optional || (!this.optionalHeadersOk && Date.now() < this.optionalHeadersOffUntilMs)) {
      return { res: await this.send(path, init, signal), resent: false };
    }
    let res: Response;
    try {
      res = await this.send(path, { ...init, headers: { ...init.headers, ...optional } }, signal);
    } catch (err) {
      if (this.optionalHeadersOk || !isFetchFailure(err)) throw err;
      res = await this.send(path, init, signal);
      // Answered without them: most likely the CORS refusal of a node that predates them.
      this.optionalHeadersOffUntilMs = Date.now() + OPTIONAL_HEADERS_OFF_MS;
      return { res, resent: true };
    }
    this.optionalHeadersOk = true;
    return { res, resent: false };
  }

  private async send(path: string, init: RequestInit, signal?: AbortSignal): Promise<Response> {
    try {
      return await this.fetch(this.url + path, { ...init, signal: withTimeout(this.timeoutMs, signal) });
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw new SigmeshError('network', `${this.url}${path}: ${err instanceof Error ? err.message : String(err)}`, undefined, undefined, { cause: err });
    }
  }

  private async expectOk(res: Response): Promise<void> {
    if (res.ok) return;
    const v = await readJson(res, MAX_JSON).catch(() => null);
    const code = isRecord(v) && typeof v.error === 'string' ? v.error : undefined;
    throw new SigmeshError('http', `${res.url || this.url}: HTTP ${res.status}${code ? ` (${code})` : ''}`, res.status, code);
  }
}

/**
 * The post channel of one room on one node (PROTOCOL.md "Post channel"): a
 * WebSocket carrying one paid post per text frame, each answered in a frame
 * matched by `n`. Upstream only: messages still come down the SSE stream. It
 * never decides a post's fate: an answer goes back as the node sent it, and a
 * post it could not carry says how far it got, so the caller can send it over
 * HTTP instead, with the same proof.
 */
import { isRecord } from './http.js';

/** What sigmesh needs of a WebSocket: the browser's, or one such as `ws`'s in Node. */
export interface ChannelSocket {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  addEventListener(type: 'open' | 'close' | 'error', listener: () => void): void;
  addEventListener(type: 'message', listener: (ev: { data: unknown }) => void): void;
}

export type ChannelSocketCtor = new (url: string) => ChannelSocket;

export type ChannelResult =
  /** The node's answer frame: `{n, id}` or the error body of the same `POST`. */
  | { kind: 'answer'; answer: Record<string, unknown> }
  /** Never went out: the channel did not open, closed first, or was full. */
  | { kind: 'unsent' }
  /** Went out, then the channel died before its answer: the node may or may not have taken it. */
  | { kind: 'lost' };

export interface PostChannelOptions {
  /** `ws(s)://<node>/room/<hash>[?peer=<id>]`. */
  url: string;
  socket: ChannelSocketCtor;
  /** A post not answered this long after it was handed over (opening included) closes the channel. */
  timeoutMs: number;
  /**
   * Once, when the channel is done. `failed`: it never opened (refused at the
   * upgrade, closed or timed out before opening: what a node or proxy without
   * the feature does). One that opened and then closed or timed out is not
   * failed: a worker stopping (1001) or a slow store says nothing of the node's
   * support. False when `close()` ended it.
   */
  onClose(info: { failed: boolean }): void;
}

/** Posts waiting for their answer at once. The node works on 16 and stops reading past that; more go over HTTP. */
export const CHANNEL_MAX_IN_FLIGHT = 32;
/** An answer is a post's error body at most; anything longer is not one. */
const MAX_ANSWER_CHARS = 64 * 1024;
const OPEN = 1;

interface Pending {
  frame: string;
  sent: boolean;
  settle(r: ChannelResult): void;
}

export class PostChannel {
  private readonly ws: ChannelSocket | null;
  private opened = false;
  private done = false;
  private nextN = 0;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly o: PostChannelOptions) {
    let ws: ChannelSocket | null = null;
    try {
      ws = new o.socket(o.url);
    } catch {
      // A URL the runtime refuses (a ws: node from an https page): as if the upgrade failed.
    }
    this.ws = ws;
    if (!ws) {
      queueMicrotask(() => this.finish());
      return;
    }
    ws.addEventListener('open', () => this.onOpen());
    ws.addEventListener('message', (ev) => this.onMessage(ev.data));
    ws.addEventListener('error', () => this.finish());
    ws.addEventListener('close', () => this.finish());
  }

  /** Posts awaiting an answer (or the open). */
  get inFlight(): number {
    return this.pending.size;
  }

  /**
   * Hands a post to the channel; resolves to its answer, or to how far it got
   * when the channel could not carry it. Rejects only when `signal` aborts.
   */
  post(pow: string | undefined, data: string, signal?: AbortSignal): Promise<ChannelResult> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.done || this.pending.size >= CHANNEL_MAX_IN_FLIGHT) return Promise.resolve({ kind: 'unsent' });
    const n = this.nextN++;
    return new Promise<ChannelResult>((resolve, reject) => {
      const timer = setTimeout(() => this.finish(), this.o.timeoutMs);
      const onAbort = (): void => {
        cleanup();
        // Its answer, if one comes, finds no post and is dropped; as with an aborted fetch the node may have it.
        reject(signal?.reason);
      };
      const cleanup = (): void => {
        clearTimeout(timer);
        this.pending.delete(n);
        signal?.removeEventListener('abort', onAbort);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const p: Pending = {
        frame: JSON.stringify(pow === undefined ? { n, data } : { n, pow, data }),
        sent: false,
        settle: (r) => { cleanup(); resolve(r); },
      };
      this.pending.set(n, p);
      if (this.opened) this.transmit(p);
    });
  }

  /** Ends the channel; posts still in it resolve at once as `unsent` or `lost`. */
  close(): void {
    if (this.done) return;
    this.finish(true);
  }

  private onOpen(): void {
    if (this.done) return;
    this.opened = true;
    for (const p of this.pending.values()) this.transmit(p);
  }

  private transmit(p: Pending): void {
    if (p.sent || this.done || !this.ws) return;
    // Counted as gone out before send: a frame handed to a socket that then breaks may still have reached the node.
    p.sent = true;
    try {
      this.ws.send(p.frame);
    } catch {
      this.finish();
    }
  }

  private onMessage(data: unknown): void {
    if (this.done || typeof data !== 'string' || data.length > MAX_ANSWER_CHARS) return;
    let v: unknown;
    try { v = JSON.parse(data); } catch { return; }
    if (!isRecord(v) || typeof v.n !== 'number') return;
    const p = this.pending.get(v.n);
    if (!p) return;
    p.settle({ kind: 'answer', answer: v });
  }

  private finish(byOwner = false): void {
    if (this.done) return;
    this.done = true;
    const failed = !byOwner && !this.opened;
    for (const p of [...this.pending.values()]) p.settle(p.sent ? { kind: 'lost' } : { kind: 'unsent' });
    if (this.ws && this.ws.readyState <= OPEN) {
      try { this.ws.close(1000); } catch { /* already closing */ }
    }
    this.o.onClose({ failed });
  }
}

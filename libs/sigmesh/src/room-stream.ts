/**
 * One SSE subscription to a room on one node, over `fetch` so it works in Node and
 * browsers and can send `Last-Event-ID`. Reconnects after drops (the `retry:` delay,
 * growing with failures in a row) and resumes after the last id it saw, so the node
 * replays what we missed.
 */
import { SigmeshError } from './errors.js';
import { defaultFetch, isRecord, type FetchLike } from './http.js';
import { parsePrice, type Price } from './node-client.js';
import { SseParser } from './sse.js';

export interface RoomStreamOptions {
  nodeUrl: string;
  hash: string;
  fetch?: FetchLike;
  onMessage(data: string, id: string): void;
  onPrice?(price: Price): void;
  /** Connected (status 200, event stream). */
  onOpen?(): void;
  /** The connection failed or dropped; `failures` counts drops since the last open. */
  onDown?(err: unknown, failures: number): void;
  /** Reconnect when nothing (not even `: ka`) came for this long. Default 45 s. */
  idleTimeoutMs?: number;
  /** Upper bound of the reconnect delay. Default 30 s. */
  maxDelayMs?: number;
  /** Resume after this id on the first connection. */
  lastEventId?: string;
  /** Our peer id in the room (`?peer=`): the node keeps our own live posts off this stream. */
  peer?: string;
}

export class RoomStream {
  private stopped = false;
  private abort: AbortController | null = null;
  private retryMs = 2000;
  private failures = 0;
  private lastId: string;
  private wake: (() => void) | null = null;

  constructor(private readonly o: RoomStreamOptions) {
    this.lastId = o.lastEventId ?? '';
  }

  get lastEventId(): string {
    return this.lastId;
  }

  start(): void {
    void this.loop();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.wake?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      try {
        await this.connectOnce();
        if (this.stopped) return;
        this.failures++;
        this.o.onDown?.(new SigmeshError('network', 'room stream ended'), this.failures);
      } catch (err) {
        if (this.stopped) return;
        this.failures++;
        this.o.onDown?.(err, this.failures);
      }
      if (this.stopped) return;
      const base = Math.min(this.o.maxDelayMs ?? 30_000, this.retryMs * 2 ** Math.min(this.failures - 1, 5));
      await this.sleep(base / 2 + Math.random() * base / 2);
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void { clearTimeout(t); resolve(); }
      this.wake = done;
    });
  }

  private async connectOnce(): Promise<void> {
    const ac = new AbortController();
    this.abort = ac;
    const headers: Record<string, string> = { Accept: 'text/event-stream' };
    if (this.lastId) headers['Last-Event-ID'] = this.lastId;
    const url = new URL(`${this.o.nodeUrl}/room/${this.o.hash}`);
    if (this.o.peer !== undefined) url.searchParams.set('peer', this.o.peer);
    const res = await (this.o.fetch ?? defaultFetch)(url.href, { headers, signal: ac.signal });
    if (res.status !== 200 || !(res.headers.get('content-type') ?? '').startsWith('text/event-stream') || !res.body) {
      await res.body?.cancel().catch(() => undefined);
      // 400 with a resume id: the node refuses that id (PROTOCOL); resume live instead of failing forever.
      if (res.status === 400 && this.lastId) this.lastId = '';
      throw new SigmeshError('http', `room stream: HTTP ${res.status}`, res.status);
    }
    this.failures = 0;
    this.o.onOpen?.();
    const parser = new SseParser({
      onEvent: (ev) => {
        this.lastId = ev.lastEventId;
        if (ev.event === 'price') {
          let v: unknown = null;
          try { v = JSON.parse(ev.data); } catch { /* ignore a bad price */ }
          const p = isRecord(v) ? parsePrice(v) : null;
          if (p) this.o.onPrice?.(p);
        } else if (ev.event === 'message') {
          this.o.onMessage(ev.data, ev.lastEventId);
        }
      },
      onRetry: (ms) => { this.retryMs = Math.min(Math.max(ms, 250), 60_000); },
    }, this.lastId);
    const idleMs = this.o.idleTimeoutMs ?? 45_000;
    let idle = setTimeout(() => ac.abort(), idleMs);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        clearTimeout(idle);
        idle = setTimeout(() => ac.abort(), idleMs);
        parser.feed(decoder.decode(value, { stream: true }));
      }
    } finally {
      clearTimeout(idle);
      if (this.abort === ac) this.abort = null;
      ac.abort();
    }
  }
}

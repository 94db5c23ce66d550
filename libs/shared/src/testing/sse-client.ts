/**
 * A small SSE client over fetch streams, parsing per the HTML spec's event
 * stream rules (the same ones EventSource applies), for tests and the bench.
 */

export interface SseEvent {
  /** `message` unless the frame named an event type. */
  event: string;
  data: string;
  /** The stream's last event id after this event (as EventSource reports it). */
  lastEventId: string;
  /** True when this very frame carried an `id:` field. */
  hasId: boolean;
}

export interface SseOpenOptions {
  lastEventId?: string;
  headers?: Record<string, string>;
  /** Called for every dispatched event (the bench timestamps arrivals here). */
  onEvent?: (e: SseEvent) => void;
}

export interface SseRefusal {
  status: number;
  body: unknown;
}

/** Grows when the server writes; parsed into events as lines complete. */
export class SseClient {
  readonly events: SseEvent[] = [];
  retry: number | undefined;
  comments = 0;
  lastEventId = '';
  /** Resolves when the server ends the stream or the client closes it. */
  readonly ended: Promise<void>;
  endedByServer = false;
  private readonly abort: AbortController;
  private buf = '';
  private dataBuf: string[] = [];
  private eventType = '';
  private frameHadId = false;
  private readonly waiters = new Set<() => void>();

  private constructor(
    readonly status: number,
    readonly headers: Headers,
    body: ReadableStream<Uint8Array>,
    abort: AbortController,
    private readonly onEvent: ((e: SseEvent) => void) | undefined,
  ) {
    this.abort = abort;
    this.ended = this.pump(body);
  }

  /** Opens a stream; a non-200 answer resolves to its status and JSON body instead. */
  static async open(url: string, opts: SseOpenOptions = {}): Promise<SseClient | SseRefusal> {
    const abort = new AbortController();
    const headers: Record<string, string> = { Accept: 'text/event-stream', ...opts.headers };
    if (opts.lastEventId !== undefined) headers['Last-Event-ID'] = opts.lastEventId;
    const res = await fetch(url, { headers, signal: abort.signal });
    if (res.status !== 200 || res.body === null) {
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // HTML or empty: keep the text.
      }
      return { status: res.status, body };
    }
    const c = new SseClient(res.status, res.headers, res.body, abort, opts.onEvent);
    if (opts.lastEventId !== undefined) c.lastEventId = opts.lastEventId;
    return c;
  }

  /** Like `open`, but throws on a refusal. */
  static async connect(url: string, opts: SseOpenOptions = {}): Promise<SseClient> {
    const c = await SseClient.open(url, opts);
    if (!(c instanceof SseClient)) throw new Error(`SSE refused: ${c.status} ${JSON.stringify(c.body)}`);
    return c;
  }

  /** Default-type events (room messages). */
  messages(): SseEvent[] {
    return this.events.filter((e) => e.event === 'message');
  }

  ofType(event: string): SseEvent[] {
    return this.events.filter((e) => e.event === event);
  }

  /** Resolves once `cond` holds (re-checked after every event), rejects after `timeoutMs`. */
  until(cond: (c: SseClient) => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
    if (cond(this)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (!cond(this)) return;
        cleanup();
        resolve();
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`SSE: timed out after ${timeoutMs} ms waiting for ${what}; got ${this.events.length} events`));
      }, timeoutMs);
      const cleanup = (): void => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
    });
  }

  close(): Promise<void> {
    this.abort.abort();
    return this.ended;
  }

  private async pump(body: ReadableStream<Uint8Array>): Promise<void> {
    const reader = body.getReader();
    const decoder = new TextDecoder('utf-8');
    try {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) {
          this.endedByServer = true;
          break;
        }
        this.feed(decoder.decode(value, { stream: true }));
      }
    } catch {
      // Aborted by close(), or the connection was cut: either way the stream is over.
    } finally {
      this.notify();
    }
  }

  private feed(text: string): void {
    this.buf += text;
    for (;;) {
      const m = /\r\n|\r|\n/.exec(this.buf);
      if (m === null) break;
      // A lone CR at the very end may be the first half of CRLF: wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
    this.notify();
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) {
      this.comments++;
      return;
    }
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event': this.eventType = value; break;
      case 'data': this.dataBuf.push(value); break;
      case 'id':
        if (!value.includes('\0')) {
          this.lastEventId = value;
          this.frameHadId = true;
        }
        break;
      case 'retry': if (/^\d+$/.test(value)) this.retry = Number(value); break;
      default: break;
    }
  }

  private dispatch(): void {
    const e: SseEvent = {
      event: this.eventType === '' ? 'message' : this.eventType,
      data: this.dataBuf.join('\n'),
      lastEventId: this.lastEventId,
      hasId: this.frameHadId,
    };
    this.dataBuf = [];
    this.eventType = '';
    this.frameHadId = false;
    // The spec dispatches nothing for an empty data buffer (as EventSource does).
    if (e.data === '') return;
    this.events.push(e);
    this.onEvent?.(e);
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

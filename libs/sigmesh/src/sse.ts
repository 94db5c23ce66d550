/**
 * Incremental parser of the `text/event-stream` format (WHATWG HTML, "Server-sent
 * events"), fed with decoded text chunks split anywhere, so it can read a `fetch`
 * body (which, unlike EventSource, can send our own headers such as Last-Event-ID).
 */

export interface SseEvent {
  /** Event type; `message` when the stream named none. */
  event: string;
  data: string;
  /** The stream's last event id at dispatch time ('' when none). */
  lastEventId: string;
}

export interface SseParserOptions {
  onEvent(ev: SseEvent): void;
  /** `retry:` field, in milliseconds. */
  onRetry?(ms: number): void;
  /** Comment lines (`: ka`), e.g. to feed a keep-alive watchdog. */
  onComment?(text: string): void;
  /** Longest line accepted; longer ones throw (a bounded buffer). Default 64 KiB. */
  maxLineLength?: number;
}

export class SseParser {
  private buffer = '';
  /** The previous chunk ended with CR: a leading LF of the next chunk belongs to it. */
  private pendingCR = false;
  private data: string[] = [];
  private eventType = '';
  private lastEventId = '';
  private readonly maxLine: number;

  constructor(private readonly opts: SseParserOptions, lastEventId = '') {
    this.maxLine = opts.maxLineLength ?? 65536;
    this.lastEventId = lastEventId;
  }

  get lastId(): string {
    return this.lastEventId;
  }

  feed(chunk: string): void {
    let text = chunk;
    if (this.pendingCR && text.startsWith('\n')) text = text.slice(1);
    this.pendingCR = false;
    text = this.buffer + text;
    let start = 0;
    for (;;) {
      const cr = text.indexOf('\r', start);
      const lf = text.indexOf('\n', start);
      let end: number;
      if (cr === -1 && lf === -1) break;
      if (cr === -1 || (lf !== -1 && lf < cr)) end = lf;
      else end = cr;
      const line = text.slice(start, end);
      if (text[end] === '\r') {
        if (end + 1 === text.length) { this.pendingCR = true; start = end + 1; this.line(line); break; }
        start = text[end + 1] === '\n' ? end + 2 : end + 1;
      } else {
        start = end + 1;
      }
      this.line(line);
    }
    this.buffer = text.slice(start);
    if (this.buffer.length > this.maxLine) {
      this.buffer = '';
      throw new RangeError('SSE line too long');
    }
  }

  private line(line: string): void {
    if (line === '') return this.dispatch();
    if (line.startsWith(':')) { this.opts.onComment?.(line.slice(1).trimStart()); return; }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event': this.eventType = value; break;
      case 'data': this.data.push(value); break;
      case 'id': if (!value.includes('\0')) this.lastEventId = value; break;
      case 'retry': if (/^[0-9]+$/.test(value)) this.opts.onRetry?.(Number(value)); break;
      default: break; // unknown fields are ignored by the spec
    }
  }

  private dispatch(): void {
    const type = this.eventType || 'message';
    const had = this.data.length > 0;
    const data = this.data.join('\n');
    this.data = [];
    this.eventType = '';
    if (!had) return;
    this.opts.onEvent({ event: type, data, lastEventId: this.lastEventId });
  }
}

import type { Quote } from '@mesh/shared';

/**
 * Server-sent events framing. Every frame ends with a blank line; a body's
 * line breaks (LF, CRLF or lone CR, all of which end an SSE line) become
 * separate `data:` lines, so a posted body can never start a new field or
 * event of its own.
 */

const LINE_BREAK = /\r\n|\r|\n/;

/** `data:` lines of `text`; the space after the colon keeps a leading space of the text intact. */
function dataLines(text: string): string {
  let out = '';
  for (const line of text.split(LINE_BREAK)) out += `data: ${line}\n`;
  return out;
}

/**
 * What a body weighs against the post limit: its UTF-8 bytes, each line
 * break (LF, CR or CRLF) counted as the 7 bytes it frames to (`\ndata: `),
 * so a body of line feeds cannot frame to 7 times the limit.
 */
export function framedBodyBytes(text: string): number {
  let bytes = 0;
  for (const line of text.split(LINE_BREAK)) bytes += Buffer.byteLength(line, 'utf8') + 7;
  return bytes - 7;
}

/** A message of the default event type with its id (ids are `<ms>-<seq>`, no line breaks). */
export function frameMessage(id: string, data: string): string {
  return `id: ${id}\n${dataLines(data)}\n`;
}

/** A named event without id (so it does not move the client's Last-Event-ID). */
export function frameEvent(event: string, data: string): string {
  return `event: ${event}\n${dataLines(data)}\n`;
}

export function frameRetry(ms: number): string {
  return `retry: ${Math.max(0, Math.floor(ms))}\n\n`;
}

/** A comment line: keeps proxies and NATs from closing an idle stream. */
export const KEEP_ALIVE_FRAME = ': ka\n\n';

/** `event: price` frame of PROTOCOL.md: `{"token", "work", "difficulty"}`. */
export function framePrice(q: Quote): string {
  return frameEvent('price', JSON.stringify({ token: q.token, work: q.work, difficulty: q.difficulty }));
}

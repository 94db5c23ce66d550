/** Small fetch helpers: timeouts and bounded body reads. */
import { SigmeshError } from './errors.js';

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>;

/** `fetch` bound to the global object (browsers throw "Illegal invocation" otherwise). */
export const defaultFetch: FetchLike = (input, init) => globalThis.fetch(input, init);

/** A signal that fires on `parent` or after `ms`. */
export function withTimeout(ms: number, parent?: AbortSignal): AbortSignal {
  const t = AbortSignal.timeout(ms);
  return parent ? AbortSignal.any([parent, t]) : t;
}

/** Reads a body as text, refusing more than `maxBytes` (a hostile node cannot flood us). */
export async function readText(res: Response, maxBytes: number): Promise<string> {
  if (!res.body) return '';
  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  let size = 0;
  let text = '';
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > maxBytes) {
      await reader.cancel().catch(() => undefined);
      throw new SigmeshError('bad_response', `response larger than ${maxBytes} bytes`, res.status);
    }
    text += decoder.decode(value, { stream: true });
  }
  return text + decoder.decode();
}

export async function readJson(res: Response, maxBytes: number): Promise<unknown> {
  const text = await readText(res, maxBytes);
  try {
    return JSON.parse(text) as unknown;
  } catch (err) {
    throw new SigmeshError('bad_response', 'response is not JSON', res.status, undefined, { cause: err });
  }
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

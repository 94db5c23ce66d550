/**
 * Response format per PROTOCOL.md "Common rules": JSON when asked for in the
 * Accept header, by a JSON request body, or by `?format=json`; else HTML.
 */

/** The part of a koa Context negotiation reads; a Context satisfies it. */
export interface NegotiationInput {
  get(field: string): string;
  querystring: string;
}

/** True when the Accept header lists `type` (exact, case-insensitive) with q > 0. */
export function acceptsExactly(accept: string, type: string): boolean {
  if (accept === '') return false;
  for (const range of accept.split(',')) {
    const [media, ...params] = range.split(';');
    if (media === undefined || media.trim().toLowerCase() !== type) continue;
    const q = params.map((p) => p.trim().toLowerCase()).find((p) => p.startsWith('q='));
    if (q !== undefined && !(Number(q.slice(2)) > 0)) continue;
    return true;
  }
  return false;
}

function isJsonMediaType(contentType: string): boolean {
  const media = (contentType.split(';')[0] ?? '').trim().toLowerCase();
  return media === 'application/json' || /^application\/[a-z0-9.+-]+\+json$/.test(media);
}

export function wantsJson(ctx: NegotiationInput): boolean {
  if (acceptsExactly(ctx.get('Accept'), 'application/json')) return true;
  if (isJsonMediaType(ctx.get('Content-Type'))) return true;
  return new URLSearchParams(ctx.querystring).get('format') === 'json';
}

export function wantsEventStream(ctx: NegotiationInput): boolean {
  return acceptsExactly(ctx.get('Accept'), 'text/event-stream');
}

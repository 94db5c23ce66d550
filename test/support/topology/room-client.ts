/**
 * A room poster that goes through the public origin like a browser client:
 * learns the room's price, solves the proof over the public path, posts, and
 * solves again on a 402 with the price it carries.
 */
import { solveProof } from '@mesh/shared';

export interface RoomQuote {
  token: string;
  work: number;
}

export interface PostResult {
  /** The message id of the 202 answer. */
  id: string;
  /** Statuses of the attempts refused before the accepted one (402 re-solves, 5xx retries). */
  refused: number[];
}

const MAX_ATTEMPTS = 8;

function isQuote(v: unknown): v is RoomQuote {
  if (typeof v !== 'object' || v === null) return false;
  const o = v as Record<string, unknown>;
  return typeof o['token'] === 'string' && typeof o['work'] === 'number';
}

export async function roomQuote(origin: string, hash: string): Promise<RoomQuote> {
  const res = await fetch(`${origin}/room/${hash}`, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(5000) });
  const body: unknown = await res.json();
  if (res.status !== 200 || !isQuote(body)) throw new Error(`room price: HTTP ${res.status} ${JSON.stringify(body)}`);
  return { token: body.token, work: body.work };
}

/**
 * Posts to one room like a client that keeps the last price it learned: the
 * first post reads `GET /room/<hash>`; later ones reuse that token and work
 * (valid for minutes) and learn a new price only from a 402, so every
 * request after the first is a POST.
 */
export class RoomPoster {
  private quote: RoomQuote | undefined;

  constructor(private readonly origin: string, private readonly hash: string) {}

  /**
   * Posts `text`. A 402 is solved again at the price it names; a 429
   * `rate_limited` is posted again after its Retry-After; a 5xx (a
   * worker gone under the proxy) is posted again, as a client would. Throws
   * after MAX_ATTEMPTS or on any other status.
   */
  async post(text: string): Promise<PostResult> {
    const path = `/room/${this.hash}`;
    const body = new TextEncoder().encode(text);
    const refused: number[] = [];
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      this.quote ??= await roomQuote(this.origin, this.hash);
      const proof = solveProof({ token: this.quote.token, work: this.quote.work, method: 'POST', path, body });
      const res = await fetch(`${this.origin}${path}`, {
        method: 'POST',
        headers: { 'Content-Type': 'text/plain; charset=utf-8', Accept: 'application/json', 'X-PoW': proof.header },
        body,
        signal: AbortSignal.timeout(10_000),
      });
      const answer: unknown = await res.json().catch(() => undefined);
      if (res.status === 202) {
        const id = (answer as { id?: unknown } | undefined)?.id;
        if (typeof id !== 'string') throw new Error(`202 without an id: ${JSON.stringify(answer)}`);
        return { id, refused };
      }
      refused.push(res.status);
      if (res.status === 402 && isQuote(answer)) this.quote = { token: answer.token, work: answer.work };
      else if (res.status === 429 && (answer as { error?: unknown } | undefined)?.error === 'rate_limited') {
        // Every client of the test shares the proxy's address: wait as told, like a browser client.
        await new Promise((r) => setTimeout(r, Number(res.headers.get('retry-after') ?? '1') * 1000));
      }
      else if (res.status < 500) throw new Error(`POST ${path}: HTTP ${res.status} ${JSON.stringify(answer)}`);
    }
    throw new Error(`POST ${path}: no 202 after ${MAX_ATTEMPTS} attempts (${refused.join(', ')})`);
  }
}

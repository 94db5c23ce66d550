import { isIP } from 'node:net';
import { isSpecialPurposeIp } from '@mesh/shared';
import { fetchJson, type FetchFailure } from './bounded-fetch.js';

/**
 * Decides whether a peer address found under the network infohash is a mesh
 * node of our network, following PROTOCOL.md `GET /`:
 * 1. `GET http://<ip>:<port>/` (https for port 443) answers JSON with our
 *    `network`, a 64-hex `id` and a `url` (https, or http when insecure
 *    nodes are allowed);
 * 2. `GET <url>/` over a checked connection answers the same `id` and
 *    `network`. Step 2 is what we trust: the address only gave a hint.
 */
export type ProbeRejection =
  | FetchFailure
  | 'not_a_node'
  | 'other_network'
  | 'insecure_url'
  | 'url_mismatch'
  | 'url_unreachable';

export type ProbeResult = { ok: true; id: string; url: string } | { ok: false; reason: ProbeRejection; detail?: string };

export interface ProbeOptions {
  /** Our infohash, 40 hex. */
  network: string;
  allowInsecure: boolean;
  timeoutMs: number;
  /** Body cap of each fetch (default 16 KiB; a `GET /` answer is under 1 KiB). */
  maxBytes?: number;
}

export type ProbeFn = (peer: { host: string; port: number }, opts: ProbeOptions) => Promise<ProbeResult>;

export const PROBE_MAX_BYTES = 16 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;

/**
 * The canonical form of a node URL: scheme and host lower-cased, default
 * port dropped, no trailing slash; null for anything but a plain http(s)
 * URL (no credentials, query or fragment). `http:` only when allowed.
 */
export function canonicalNodeUrl(raw: unknown, allowInsecure: boolean): string | null | 'insecure' {
  if (typeof raw !== 'string' || raw.length > 512) return null;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return null;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') return null;
  if (u.protocol === 'http:' && !allowInsecure) return 'insecure';
  if (u.username !== '' || u.password !== '' || u.search !== '' || u.hash !== '') return null;
  return `${u.origin}${u.pathname.replace(/\/+$/, '')}`;
}

export const probePeer: ProbeFn = async (peer, opts) => {
  const maxBytes = opts.maxBytes ?? PROBE_MAX_BYTES;
  if (isIP(peer.host) === 0) return { ok: false, reason: 'not_a_node', detail: 'peer host is not an IP' };
  if (!opts.allowInsecure && isSpecialPurposeIp(peer.host)) return { ok: false, reason: 'special_address' };
  const base = { timeoutMs: opts.timeoutMs, maxBytes, allowSpecial: opts.allowInsecure };
  const hostPart = isIP(peer.host) === 6 ? `[${peer.host}]` : peer.host;

  // A node behind TLS on 443 answers https; on any other port we ask in
  // plain http first, and in https only when that found no HTTP server
  // (refused, reset, or an error status such as "HTTP sent to an HTTPS port").
  let first = await fetchJson(new URL(`${peer.port === 443 ? 'https:' : 'http:'}//${hostPart}:${peer.port}/`), { ...base, insecureTls: true });
  if (!first.ok && peer.port !== 443 && (first.reason === 'unreachable' || first.reason === 'bad_status')) {
    const tls = await fetchJson(new URL(`https://${hostPart}:${peer.port}/`), { ...base, insecureTls: true });
    if (tls.ok || tls.reason !== 'unreachable') first = tls;
  }
  if (!first.ok) return first;

  const hint = readNodeInfo(first.body, opts);
  if (!hint.ok) return hint;

  const confirm = await fetchJson(new URL(`${hint.url}/`), base);
  if (!confirm.ok) return { ok: false, reason: 'url_unreachable', detail: confirm.reason };
  const confirmed = readNodeInfo(confirm.body, opts);
  if (!confirmed.ok || confirmed.id !== hint.id) {
    return { ok: false, reason: 'url_mismatch', detail: 'the url serves another node' };
  }
  return { ok: true, id: hint.id, url: hint.url };
};

function readNodeInfo(body: unknown, opts: ProbeOptions): ProbeResult {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return { ok: false, reason: 'not_a_node' };
  const { id, url, network } = body as { id?: unknown; url?: unknown; network?: unknown };
  if (typeof network !== 'string' || typeof id !== 'string' || typeof url !== 'string') {
    return { ok: false, reason: 'not_a_node' };
  }
  if (network !== opts.network) return { ok: false, reason: 'other_network' };
  if (!HEX64.test(id)) return { ok: false, reason: 'not_a_node', detail: 'id is not 64 lower-case hex' };
  const canonical = canonicalNodeUrl(url, opts.allowInsecure);
  if (canonical === 'insecure') return { ok: false, reason: 'insecure_url' };
  if (canonical === null) return { ok: false, reason: 'not_a_node', detail: 'url is not an http(s) URL' };
  return { ok: true, id, url: canonical };
}

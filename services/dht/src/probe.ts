import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { canonicalNodeUrl, createCidrMatcher, MESH_PROBER_HEADER, normalizeIp } from '@mesh/shared';
import { fetchJson, type FetchFailure } from './bounded-fetch.js';

/**
 * Decides whether a peer address found under the network infohash is a mesh
 * node of our network, following PROTOCOL.md "Verifying a peer":
 * 0. the address is refused if special-purpose (loopback, private,
 *    link-local, ...) unless inside `allowedPeers`;
 * 1. `GET http://<ip>:<port>/` (https for port 443, or when plain http met
 *    a server that does not speak it) answers JSON with our `network`, a
 *    64-hex `id` and a `url` (https, or http when insecure nodes are
 *    allowed) whose host is that same IP, or a name resolving to it;
 * 2. `GET <url>/`, connected to that same IP with the certificate checked,
 *    answers the same `id` and `network`. Step 2 is what we trust: the
 *    address only gave a hint, and a hint can never make us connect to
 *    another host.
 */
export type ProbeRejection =
  | FetchFailure
  | 'not_a_node'
  | 'other_network'
  | 'insecure_url'
  | 'url_elsewhere'
  | 'url_mismatch'
  | 'url_unreachable';

export type ProbeResult = { ok: true; id: string; url: string } | { ok: false; reason: ProbeRejection; detail?: string };

export interface ProbeOptions {
  /** Our infohash, 40 hex. */
  network: string;
  /** Accept `http://` node URLs (MESH_ALLOW_INSECURE). It exempts no address from the guard. */
  allowInsecure: boolean;
  /**
   * CIDRs exempt from the special-address guard (`config.dht.allowedPeers`,
   * MESH_ALLOWED_PEERS); default none, so loopback, private and link-local
   * peers are refused.
   */
  allowedPeers?: readonly string[];
  timeoutMs: number;
  /**
   * This node's own URL, sent as `x-mesh-node` with the first `GET /`, so
   * the probed node verifies us in turn (PROTOCOL.md, "Mesh discovery").
   */
  proberUrl?: string;
  /** Body cap of each fetch (default 16 KiB; a `GET /` answer is under 1 KiB). */
  maxBytes?: number;
  /** All addresses of a host name (default dns.lookup; tests pass their own to play a DNS rebind). */
  resolve?: (hostname: string) => Promise<string[]>;
}

export type ProbeFn = (peer: { host: string; port: number }, opts: ProbeOptions) => Promise<ProbeResult>;

export const PROBE_MAX_BYTES = 16 * 1024;

const HEX64 = /^[0-9a-f]{64}$/;

// The one definition is the node-list contract's; re-exported for the dht package's callers.
export { canonicalNodeUrl };

/** Matchers by allow list: discovery passes the same array to every probe, so it is parsed once. */
const matchers = new WeakMap<readonly string[], (ip: string) => boolean>();
function allowedMatcher(cidrs: readonly string[] | undefined): ((ip: string) => boolean) | undefined {
  if (cidrs === undefined || cidrs.length === 0) return undefined;
  let m = matchers.get(cidrs);
  if (m === undefined) {
    m = createCidrMatcher(cidrs);
    matchers.set(cidrs, m);
  }
  return m;
}

/** Transport failures: the https retry keeps the plain http answer over these. */
const TRANSPORT: readonly FetchFailure[] = ['refused', 'not_http', 'unreachable', 'timeout'];

const systemResolve = async (hostname: string): Promise<string[]> =>
  (await dnsLookup(hostname, { all: true, verbatim: true })).map((a) => a.address);

export const probePeer: ProbeFn = async (peer, opts) => {
  const maxBytes = opts.maxBytes ?? PROBE_MAX_BYTES;
  if (isIP(peer.host) === 0) return { ok: false, reason: 'not_a_node', detail: 'peer host is not an IP' };
  const ip = normalizeIp(peer.host);
  const allowed = allowedMatcher(opts.allowedPeers);
  const base = { timeoutMs: opts.timeoutMs, maxBytes, ...(allowed === undefined ? {} : { allowed }) };
  const hostPart = isIP(ip) === 6 ? `[${ip}]` : ip;

  // A node behind TLS on 443 answers https; on any other port we ask in
  // plain http first, and in https only when something answered that is not
  // an HTTP server, or answered an error status (such as nginx's "plain HTTP
  // sent to an HTTPS port"). Nothing listening (refused), unreachable or
  // silent: no second connection.
  const named = { ...base, insecureTls: true, ...(opts.proberUrl !== undefined ? { headers: { [MESH_PROBER_HEADER]: opts.proberUrl } } : {}) };
  let first = await fetchJson(new URL(`${peer.port === 443 ? 'https:' : 'http:'}//${hostPart}:${peer.port}/`), named);
  if (!first.ok && peer.port !== 443 && (first.reason === 'not_http' || first.reason === 'bad_status')) {
    const tls = await fetchJson(new URL(`https://${hostPart}:${peer.port}/`), named);
    if (tls.ok || !TRANSPORT.includes(tls.reason)) first = tls;
  }
  if (!first.ok) return first;

  const hint = readNodeInfo(first.body, opts);
  if (!hint.ok) return hint;
  const at = await pointsAt(hint.url, ip, opts);
  if (!at.ok) return at;

  // Pinned to the probed IP: whatever the name resolves to by now.
  const confirm = await fetchJson(new URL(`${hint.url}/`), { ...base, address: ip });
  if (!confirm.ok) return { ok: false, reason: 'url_unreachable', detail: confirm.reason };
  const confirmed = readNodeInfo(confirm.body, opts);
  if (!confirmed.ok || confirmed.id !== hint.id) {
    return { ok: false, reason: 'url_mismatch', detail: 'the url serves another node' };
  }
  return { ok: true, id: hint.id, url: hint.url };
};

/**
 * Whether the host of `url` is `ip` (an IP literal, compared in canonical
 * form) or a name `ip` is among the addresses of. Otherwise a peer could
 * have us confirm, and so send requests to, any host it names.
 */
async function pointsAt(url: string, ip: string, opts: ProbeOptions): Promise<{ ok: true } | { ok: false; reason: ProbeRejection; detail?: string }> {
  const host = new URL(url).hostname.replace(/^\[|\]$/g, '');
  if (isIP(host) !== 0) {
    return normalizeIp(host) === ip ? { ok: true } : { ok: false, reason: 'url_elsewhere', detail: `url host ${host} is not ${ip}` };
  }
  let addresses: string[];
  let timer: NodeJS.Timeout | undefined;
  try {
    // getaddrinfo cannot be cancelled; the deadline only stops our wait for it.
    addresses = await Promise.race([
      (opts.resolve ?? systemResolve)(host),
      new Promise<never>((_resolve, reject) => {
        timer = setTimeout(() => reject(new Error('dns timeout')), opts.timeoutMs);
      }),
    ]);
  } catch (err) {
    return { ok: false, reason: 'url_unreachable', detail: `dns: ${(err as Error).message}` };
  } finally {
    clearTimeout(timer);
  }
  if (addresses.some((a) => normalizeIp(a) === ip)) return { ok: true };
  return { ok: false, reason: 'url_elsewhere', detail: `${host} does not resolve to ${ip}` };
}

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

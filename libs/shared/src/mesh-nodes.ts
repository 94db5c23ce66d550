/**
 * The verified node list: the dht service writes it, the API's `/nodes`
 * reads it (PROTOCOL.md `GET /nodes`), and probes tell the probed node who
 * asked (PROTOCOL.md, "Mesh discovery"). One contract, so both sides agree.
 *
 * Store layout:
 * - sorted set `nodes`: member = canonical node URL, score = last verified (ms);
 * - `node:<sha1 hex of url>`: JSON `NodeRecord`, expiring with the member.
 */
import { createHash } from 'node:crypto';
import { isIP } from 'node:net';
import { normalizeIp } from './net/cidr.js';

export const NODES_SET = 'nodes';
export const NODE_KEY_PREFIX = 'node:';

/** How often a listed node is probed again: a live node is never older than this in the list. */
export const NODE_REVERIFY_MS = 2 * 60_000;
/** A failed re-probe is repeated after this (never more often than once a minute per node). */
export const NODE_RETRY_MS = 60_000;
/** Consecutive failed re-probes after which a node leaves the list. */
export const NODE_MAX_FAILURES = 2;
/**
 * `/nodes` lists nodes verified within this window: a re-verify period and
 * a retry with room for queueing, so a live node stays listed and a node
 * that stopped answering is gone within it even if its removal failed.
 */
export const NODES_FRESH_MS = 5 * 60_000;
/** Members and records older than this are swept (a backstop to the removal on failure). */
export const NODE_TTL_MS = 10 * 60_000;

export interface NodeRecord {
  /** 64 hex node id. */
  id: string;
  url: string;
  /** `host:port` the node was probed at. */
  addr: string;
  seenMs: number;
}

export function nodeKey(url: string): string {
  return NODE_KEY_PREFIX + createHash('sha1').update(url, 'utf8').digest('hex');
}

/**
 * The canonical form of a node URL: scheme and host lower-cased, default
 * port dropped, no trailing slash; null for anything but a plain http(s)
 * URL (no credentials, query or fragment) of at most 512 characters;
 * 'insecure' for `http:` unless allowed.
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

/** This node's own URL as the list holds it (PUBLIC_URL was checked at start; kept as is if not canonicalisable). */
export function canonicalSelfUrl(publicUrl: string): string {
  const c = canonicalNodeUrl(publicUrl, true);
  return c === null || c === 'insecure' ? publicUrl : c;
}

/**
 * Request header of a probe's first `GET /`: the prober's own node URL. The
 * probed node offers the prober's address (the connection's source IP and
 * the URL's port) to its own discovery, which verifies it like any DHT peer.
 */
export const MESH_PROBER_HEADER = 'x-mesh-node';

/**
 * Bus subject (request/reply) the API answers once its public server
 * listens: the dht service announces the node only then, so that probers
 * find a listening port (in compose they are separate processes).
 */
export const API_LISTENING_SUBJECT = 'api.listening';

/** Bus subject (fire and forget) on which the API hands such an address to the dht service. */
export const MESH_HINT_SUBJECT = 'dht.hint';

export interface MeshHint {
  host: string;
  port: number;
}

/**
 * The address a probe's `x-mesh-node` header points at, seen from `sourceIp`:
 * the source IP (a header cannot send us elsewhere) and the URL's port;
 * null for a malformed header or an unusable source.
 */
export function hintFromProbe(header: string | undefined, sourceIp: string, allowInsecure: boolean): MeshHint | null {
  if (header === undefined || isIP(sourceIp) === 0) return null;
  const url = canonicalNodeUrl(header, allowInsecure);
  if (url === null || url === 'insecure') return null;
  const u = new URL(url);
  const port = u.port === '' ? (u.protocol === 'https:' ? 443 : 80) : Number(u.port);
  return { host: normalizeIp(sourceIp), port };
}

export function encodeHint(hint: MeshHint): Uint8Array {
  return Buffer.from(JSON.stringify({ host: hint.host, port: hint.port }), 'utf8');
}

/** The bus is not trusted: anything but an IP and a port is null. */
export function decodeHint(data: Uint8Array): MeshHint | null {
  if (data.length > 256) return null;
  try {
    const v = JSON.parse(Buffer.from(data).toString('utf8')) as { host?: unknown; port?: unknown };
    if (typeof v.host !== 'string' || isIP(v.host) === 0) return null;
    if (typeof v.port !== 'number' || !Number.isInteger(v.port) || v.port < 1 || v.port > 65535) return null;
    return { host: v.host, port: v.port };
  } catch {
    return null;
  }
}

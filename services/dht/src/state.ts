import { isIPv4 } from 'node:net';
import type { Logger } from 'pino';
import type { Store } from '@mesh/shared';

/**
 * The DHT node's persisted state: its node id and routing-table contacts, so
 * a restart keeps its place in the keyspace and rejoins without waiting for
 * the bootstrap routers.
 *
 * Store key `dht:state`: JSON `{"id": "<40 hex>", "nodes": [{"host": "<IPv4>", "port": n}]}`,
 * TTL 7 days (a node down longer starts afresh).
 */
export const DHT_STATE_KEY = 'dht:state';
export const DHT_STATE_TTL_SECONDS = 7 * 86400;
/** Contacts kept: a full routing table near us is a few hundred. */
export const DHT_STATE_MAX_NODES = 300;

export interface DhtState {
  id: string;
  nodes: { host: string; port: number }[];
}

const HEX40 = /^[0-9a-f]{40}$/;

/** The state, or null when absent, unreadable or malformed (never throws). */
export async function loadDhtState(store: Store, log: Logger): Promise<DhtState | null> {
  let raw: string | null;
  try {
    raw = await store.get(DHT_STATE_KEY);
  } catch (err) {
    log.warn({ err }, 'could not read the DHT state; starting with a fresh node id');
    return null;
  }
  if (raw === null) return null;
  return parseDhtState(raw);
}

export function parseDhtState(raw: string): DhtState | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return null;
  }
  if (typeof parsed !== 'object' || parsed === null) return null;
  const { id, nodes } = parsed as { id?: unknown; nodes?: unknown };
  if (typeof id !== 'string' || !HEX40.test(id) || !Array.isArray(nodes)) return null;
  const valid: DhtState['nodes'] = [];
  for (const n of nodes.slice(0, DHT_STATE_MAX_NODES)) {
    if (typeof n !== 'object' || n === null) continue;
    const { host, port } = n as { host?: unknown; port?: unknown };
    if (typeof host === 'string' && isIPv4(host) && typeof port === 'number' && Number.isInteger(port) && port > 0 && port < 65536) {
      valid.push({ host, port });
    }
  }
  return { id, nodes: valid };
}

export async function saveDhtState(store: Store, state: DhtState): Promise<void> {
  const value: DhtState = { id: state.id, nodes: state.nodes.slice(0, DHT_STATE_MAX_NODES) };
  await store.set(DHT_STATE_KEY, JSON.stringify(value), { ttlSeconds: DHT_STATE_TTL_SECONDS });
}

import { LOG_ID, ProtocolError } from '@mesh/shared';

/**
 * What travels on the bus subject `rooms.<hash>` (one message per accepted
 * post): the history id, the id of the entry before it in the room's history
 * (`prev`, null for the first), the body, the accept time (ms) and the room's
 * node-wide message count in the window with this one (`m`), so every worker
 * prices the room without asking the store, and the poster's peer id (`p`,
 * when it gave one): its own streams skip the message.
 */
export interface WireMessage {
  id: string;
  prev?: string | null;
  data: string;
  at: number;
  m?: number;
  p?: string;
}

/** A client's own tag for its streams and posts (PROTOCOL.md `peer`): 16 to 64 lower-case hex characters. */
const PEER_ID = /^[0-9a-f]{16,64}$/;

/** The peer id of a request (`?peer=` of a stream, `X-Room-Peer` of a post): undefined when absent, 400 when malformed. */
export function parsePeerId(raw: string | undefined, where: string): string | undefined {
  if (raw === undefined || raw === '') return undefined;
  if (!PEER_ID.test(raw)) throw new ProtocolError('bad_request', `${where} must be 16 to 64 lower-case hex characters.`);
  return raw;
}

/** The `?peer=` of a stream or channel URL, given as every value the query holds: a repeated one is malformed (400). */
export function parsePeerParam(values: string | readonly string[] | undefined): string | undefined {
  if (typeof values !== 'string' && values !== undefined && values.length > 1) {
    throw new ProtocolError('bad_request', 'peer must be given once.');
  }
  return parsePeerId(typeof values === 'string' ? values : values?.[0], 'peer');
}

/** The bus subject of a room; callers pass only hashes that passed parseRoomHash. */
export const roomSubject = (hash: string): string => `rooms.${hash}`;

export function encodeWireMessage(msg: WireMessage): Uint8Array {
  return Buffer.from(JSON.stringify(msg), 'utf8');
}

/** Parses a bus payload; undefined for anything not shaped like a WireMessage. */
export function decodeWireMessage(bytes: Uint8Array, maxDataLength: number): WireMessage | undefined {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch {
    return undefined;
  }
  if (typeof v !== 'object' || v === null) return undefined;
  const { id, prev, data, at, m, p } = v as Record<string, unknown>;
  if (typeof id !== 'string' || !LOG_ID.test(id)) return undefined;
  if (typeof data !== 'string' || data.length > maxDataLength) return undefined;
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  if (prev !== undefined && prev !== null && (typeof prev !== 'string' || !LOG_ID.test(prev))) return undefined;
  if (m !== undefined && (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0)) return undefined;
  if (p !== undefined && (typeof p !== 'string' || !PEER_ID.test(p))) return undefined;
  return {
    id, data, at,
    ...(prev !== undefined ? { prev } : {}),
    ...(m !== undefined ? { m } : {}),
    ...(p !== undefined ? { p } : {}),
  };
}

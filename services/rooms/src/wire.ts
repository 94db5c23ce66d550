import { LOG_ID } from '@mesh/shared';

/**
 * What travels on the bus subject `rooms.<hash>` (one message per accepted
 * post): the history id, the id of the entry before it in the room's history
 * (`prev`, null for the first), the body, the accept time (ms) and the room's
 * node-wide message count in the window with this one (`m`), so every worker
 * prices the room without asking the store.
 */
export interface WireMessage {
  id: string;
  prev?: string | null;
  data: string;
  at: number;
  m?: number;
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
  const { id, prev, data, at, m } = v as Record<string, unknown>;
  if (typeof id !== 'string' || !LOG_ID.test(id)) return undefined;
  if (typeof data !== 'string' || data.length > maxDataLength) return undefined;
  if (typeof at !== 'number' || !Number.isFinite(at)) return undefined;
  if (prev !== undefined && prev !== null && (typeof prev !== 'string' || !LOG_ID.test(prev))) return undefined;
  if (m !== undefined && (typeof m !== 'number' || !Number.isSafeInteger(m) || m < 0)) return undefined;
  return {
    id, data, at,
    ...(prev !== undefined ? { prev } : {}),
    ...(m !== undefined ? { m } : {}),
  };
}

import { ProtocolError } from '@mesh/shared';

/** A room is named by a SHA-1 or SHA-256 hex digest, lower case only (PROTOCOL.md). */
const ROOM_HASH = /^[0-9a-f]{40}$|^[0-9a-f]{64}$/;

export function isRoomHash(s: string): boolean {
  return ROOM_HASH.test(s);
}

/**
 * The hash of a `/room/<hash>` request, or a 400: only validated hex ever
 * reaches a bus subject or a store key.
 */
export function parseRoomHash(s: string): string {
  if (!isRoomHash(s)) {
    throw new ProtocolError('bad_request', 'The room hash must be 40 or 64 lower-case hex characters.');
  }
  return s;
}

/** Store keys of a room; callers pass only hashes that passed parseRoomHash. */
export const roomHistoryKey = (hash: string): string => `room:${hash}`;
export const roomCounterKey = (hash: string): string => `roomcount:${hash}`;

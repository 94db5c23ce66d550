import { createSlotLimiter, type Slot, type SlotLimiter } from '@mesh/shared';
import type { RoomStream } from './stream.js';

export interface StreamCaps {
  /** Open streams per client on this worker: per IPv4 address, per IPv6 network of `ipv6Prefix` bits. */
  maxPerIp: number;
  /** Prefix length an IPv6 client is counted by (CLIENT_IPV6_PREFIX, default 64). */
  ipv6Prefix: number;
  /** Open streams on this worker. */
  maxStreams: number;
}

/**
 * The local streams of one worker: by room, and counted per client (IPv4
 * address or IPv6 network: a /64 holder cannot multiply its cap by rotating
 * addresses) and in total against the caps. A slot is claimed before any async work (so a burst
 * cannot overshoot a cap) and freed when the stream leaves. Every map entry
 * goes away with its last stream: memory follows the open streams only.
 */
export class StreamRegistry {
  private readonly rooms = new Map<string, Set<RoomStream>>();
  private readonly slots: SlotLimiter;

  constructor(caps: StreamCaps) {
    this.slots = createSlotLimiter({ max: caps.maxStreams, maxPerClient: caps.maxPerIp, ipv6Prefix: caps.ipv6Prefix });
  }

  /** Claims a slot for `ip` before any async work (so a burst cannot overshoot a cap), or undefined at a cap. */
  admit(ip: string): Slot | undefined {
    return this.slots.claim(ip);
  }

  /** Adds a stream to its room; true when the room had no local stream before. */
  add(stream: RoomStream): boolean {
    let set = this.rooms.get(stream.hash);
    const first = set === undefined;
    if (set === undefined) this.rooms.set(stream.hash, (set = new Set()));
    set.add(stream);
    return first;
  }

  /** Removes a stream; true when it was the room's last local stream. */
  remove(stream: RoomStream): boolean {
    const set = this.rooms.get(stream.hash);
    if (set === undefined || !set.delete(stream)) return false;
    if (set.size > 0) return false;
    this.rooms.delete(stream.hash);
    return true;
  }

  room(hash: string): ReadonlySet<RoomStream> | undefined {
    return this.rooms.get(hash);
  }

  hashes(): IterableIterator<string> {
    return this.rooms.keys();
  }

  *streams(): IterableIterator<RoomStream> {
    for (const set of this.rooms.values()) yield* set;
  }

  /** Claimed slots (streams open or being set up). */
  get size(): number {
    return this.slots.used;
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Distinct clients (addresses or IPv6 networks) holding slots (for leak checks). */
  get ipCount(): number {
    return this.slots.clients;
  }
}

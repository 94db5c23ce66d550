import { clientAddressKey } from './net/cidr.js';

/** A claimed slot; `release` gives it back once, however often it is called. */
export interface Slot {
  /** the client's address as given */
  readonly ip: string;
  /** idempotent */
  release(): void;
}

/**
 * Slots under a total cap and a per-client cap, so one client cannot hold
 * every slot. A client is an IPv4 address or an IPv6 network of `ipv6Prefix`
 * bits (clientAddressKey): a /64 holder cannot multiply its cap by rotating
 * addresses. The per-client map only holds clients with slots, so its size
 * is bounded by `max`.
 */
export interface SlotLimiter {
  /** A slot for `ip`, or undefined when a cap is reached. */
  claim(ip: string): Slot | undefined;
  /** slots held */
  readonly used: number;
  /** distinct client keys holding slots */
  readonly clients: number;
}

export function createSlotLimiter(opts: { max: number; maxPerClient: number; ipv6Prefix: number }): SlotLimiter {
  const perClient = new Map<string, number>();
  let used = 0;
  return {
    claim(ip) {
      const key = clientAddressKey(ip, opts.ipv6Prefix);
      const mine = perClient.get(key) ?? 0;
      if (used >= opts.max || mine >= opts.maxPerClient) return undefined;
      used += 1;
      perClient.set(key, mine + 1);
      let released = false;
      return {
        ip,
        release() {
          if (released) return;
          released = true;
          used -= 1;
          const left = (perClient.get(key) ?? 1) - 1;
          if (left > 0) perClient.set(key, left);
          else perClient.delete(key);
        },
      };
    },
    get used() {
      return used;
    },
    get clients() {
      return perClient.size;
    },
  };
}

/**
 * Caps requests in flight to the DHT: in all, and per client IP, so one
 * client cannot hold every slot. `acquire` returns the release function, or
 * undefined when a cap is reached. The per-IP map only holds IPs with
 * requests in flight, so it is bounded by `max`.
 */
export interface InFlightLimiter {
  acquire(ip: string): (() => void) | undefined;
  readonly inFlight: number;
}

export function createInFlightLimiter(opts: { max: number; maxPerIp: number }): InFlightLimiter {
  const perIp = new Map<string, number>();
  let total = 0;
  return {
    acquire(ip) {
      const mine = perIp.get(ip) ?? 0;
      if (total >= opts.max || mine >= opts.maxPerIp) return undefined;
      total += 1;
      perIp.set(ip, mine + 1);
      let released = false;
      return () => {
        if (released) return;
        released = true;
        total -= 1;
        const left = (perIp.get(ip) ?? 1) - 1;
        if (left <= 0) perIp.delete(ip);
        else perIp.set(ip, left);
      };
    },
    get inFlight() {
      return total;
    },
  };
}

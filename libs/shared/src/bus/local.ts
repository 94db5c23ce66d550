import type { Logger } from 'pino';
import { BusError, type Bus, type MessageHandler, type RequestHandler, type Subscription } from './bus.js';
import { prefixSubject, RESPOND_QUEUE } from './subject.js';

/**
 * In-process bus with the semantics of NATS core, for the embedded node and
 * for tests: asynchronous delivery in publish order, queue groups served one
 * member per message, `no_responders` at once when nobody serves a subject.
 *
 * Several buses may share one `LocalBroker`, like several connections to one
 * NATS server; each bus applies its own prefix.
 */
export interface LocalBroker {
  /** Number of live subscriptions (for tests and leak checks). */
  readonly subscriptionCount: number;
}

interface Route {
  /** Subject with prefix: the broker routes on what would be on the wire. */
  readonly wire: string;
  readonly queue: string | undefined;
  readonly deliver: (data: Uint8Array, reply: ReplyFn | undefined) => void;
  active: boolean;
}

type ReplyFn = (outcome: { ok: true; data: Uint8Array } | { ok: false; message: string }) => void;

class Broker implements LocalBroker {
  private readonly routes = new Map<string, Set<Route>>();
  private readonly rr = new Map<string, number>();
  private readonly pending: (() => void)[] = [];
  private scheduled = false;
  private count = 0;

  get subscriptionCount(): number {
    return this.count;
  }

  add(route: Route): void {
    let set = this.routes.get(route.wire);
    if (set === undefined) this.routes.set(route.wire, (set = new Set()));
    set.add(route);
    this.count++;
  }

  remove(route: Route): void {
    if (!route.active) return;
    route.active = false;
    const set = this.routes.get(route.wire);
    if (set?.delete(route) === true) this.count--;
    if (set?.size === 0) this.routes.delete(route.wire);
  }

  /**
   * Picks the receivers now (as a server routes on receipt) and queues the
   * deliveries; returns how many receivers were picked.
   */
  route(wire: string, data: Uint8Array, reply: ReplyFn | undefined): number {
    const set = this.routes.get(wire);
    if (set === undefined) return 0;
    const groups = new Map<string, Route[]>();
    const picked: Route[] = [];
    for (const r of set) {
      if (r.queue === undefined) picked.push(r);
      else {
        const g = groups.get(r.queue);
        if (g === undefined) groups.set(r.queue, [r]);
        else g.push(r);
      }
    }
    for (const [queue, members] of groups) {
      // Round robin: fair and deterministic, where NATS picks at random.
      const key = `${wire}\u0000${queue}`;
      const n = this.rr.get(key) ?? 0;
      this.rr.set(key, (n + 1) % 1_000_000_007);
      const member = members[n % members.length];
      if (member !== undefined) picked.push(member);
    }
    for (const r of picked) {
      this.enqueue(() => {
        // A subscription closed between publish and delivery gets nothing.
        if (r.active) r.deliver(data, reply);
      });
    }
    return picked.length;
  }

  /** One FIFO drained on setImmediate: keeps order, never re-enters a publisher, lets I/O breathe. */
  private enqueue(task: () => void): void {
    this.pending.push(task);
    if (!this.scheduled) {
      this.scheduled = true;
      setImmediate(() => this.drain());
    }
  }

  private drain(): void {
    // Only the tasks queued before this turn; later ones wait for the next turn.
    const n = this.pending.length;
    for (let i = 0; i < n; i++) this.pending[i]?.();
    this.pending.splice(0, n);
    if (this.pending.length > 0) setImmediate(() => this.drain());
    else this.scheduled = false;
  }
}

/** A broker to share between several local buses (one "server"). */
export function createLocalBroker(): LocalBroker {
  return new Broker();
}

const MAX_REMOTE_MESSAGE = 512;

export function createLocalBus(opts: { prefix?: string; broker?: LocalBroker; log?: Logger } = {}): Bus {
  const prefix = opts.prefix ?? '';
  const broker = (opts.broker ?? new Broker()) as Broker;
  const log = opts.log;
  const mine = new Set<Route>();
  const waiting = new Set<(err: BusError) => void>();
  let closed = false;

  function addRoute(subject: string, queue: string | undefined, deliver: Route['deliver']): Subscription {
    if (closed) return { unsubscribe() {} };
    const route: Route = { wire: prefixSubject(prefix, subject), queue, deliver, active: true };
    broker.add(route);
    mine.add(route);
    return {
      unsubscribe() {
        broker.remove(route);
        mine.delete(route);
      },
    };
  }

  return {
    publish(subject, data) {
      if (closed) return;
      broker.route(prefixSubject(prefix, subject), data.slice(), undefined);
    },

    subscribe(subject: string, handler: MessageHandler, o?: { queue?: string }) {
      return addRoute(subject, o?.queue, (data) => {
        try {
          handler(data, subject);
        } catch (err) {
          log?.warn({ err, subject }, 'bus subscriber threw');
        }
      });
    },

    request(subject, data, { timeoutMs }) {
      if (closed) return Promise.reject(new BusError('closed', 'bus is closed'));
      return new Promise<Uint8Array>((resolve, reject) => {
        let done = false;
        const finish = (): void => {
          done = true;
          clearTimeout(timer);
          waiting.delete(fail);
        };
        const fail = (err: BusError): void => {
          if (done) return;
          finish();
          reject(err);
        };
        const timer = setTimeout(() => fail(new BusError('timeout', `request to ${subject} timed out`)), timeoutMs);
        waiting.add(fail);
        const n = broker.route(prefixSubject(prefix, subject), data.slice(), (outcome) => {
          if (done) return;
          if (outcome.ok) {
            finish();
            resolve(outcome.data);
          } else fail(new BusError('remote', outcome.message));
        });
        if (n === 0) fail(new BusError('no_responders', `no responders for ${subject}`));
      });
    },

    respond(subject: string, handler: RequestHandler) {
      return addRoute(subject, RESPOND_QUEUE, (data, reply) => {
        // A plain publish to a served subject has nobody to answer; NATS drops the reply too.
        void (async () => {
          try {
            const out = await handler(data, subject);
            reply?.({ ok: true, data: out });
          } catch (err) {
            const message = err instanceof Error ? err.message : String(err);
            reply?.({ ok: false, message: message.slice(0, MAX_REMOTE_MESSAGE) });
          }
        })();
      });
    },

    isReady: () => !closed,
    onReconnect: () => () => {},

    ping: () => Promise.resolve(!closed),

    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const r of mine) broker.remove(r);
      mine.clear();
      for (const fail of [...waiting]) fail(new BusError('closed', 'bus closed'));
      return Promise.resolve();
    },
  };
}

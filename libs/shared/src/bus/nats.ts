import {
  connect, errors, headers,
  type Msg, type NatsConnection, type Subscription as NatsSubscription,
} from '@nats-io/transport-node';
import type { Logger } from 'pino';
import { BusError, type Bus, type MessageHandler, type RequestHandler, type Subscription } from './bus.js';
import { prefixSubject, RESPOND_QUEUE } from './subject.js';
import { backoffMs } from '../backoff.js';
import { settleWithin } from '../timeout.js';

/**
 * Reply envelope: a reply carrying the header `Mesh-Status: error` is a
 * failure whose body is the responder's error message (UTF-8); any other
 * reply is the handler's result, untouched. Headers keep the payload free of
 * framing, so replies are never copied.
 */
export const REPLY_STATUS_HEADER = 'Mesh-Status';
const MAX_REMOTE_MESSAGE = 512;

export interface NatsBusOptions {
  url: string;
  /** Subject prefix; `<prefix>.<subject>` on the wire, empty for none. */
  prefix: string;
  log: Logger;
  /** Client name shown by the server's monitoring. */
  name?: string;
  /**
   * How long `createNatsBus` waits for the first connection before returning
   * a bus that is not ready yet (it keeps connecting). Default 2000 ms.
   */
  firstConnectWaitMs?: number;
  /** Ceiling of the reconnect backoff. Default 2000 ms. */
  maxReconnectDelayMs?: number;
}

interface Binding {
  readonly wire: string;
  readonly queue: string | undefined;
  readonly onMsg: (msg: Msg) => void;
  sub: NatsSubscription | undefined;
  active: boolean;
}

const MIN_RECONNECT_DELAY_MS = 100;

/**
 * The reconnect delay nats.js asks for: half the time already spent
 * disconnected, capped, plus up to 20 % jitter. It stays a function of time,
 * not the attempt count of the shared backoffMs: nats.js calls the handler
 * on every pass of its dial loop, before a dial and again after each sleep,
 * and measures the answer from the last dial, so a counter would grow on
 * every wake-up and jump to the cap after the first failed reconnect.
 */
function reconnectDelayMs(sinceMs: number, capMs: number): number {
  const base = Math.min(capMs, Math.max(MIN_RECONNECT_DELAY_MS, sinceMs / 2));
  return Math.round(base * (1 + Math.random() * 0.2));
}

/**
 * `user:pass@` (or a lone `token@`) of the URL as connect options: nats.js
 * ignores credentials written into a server URL (an authenticated server
 * then answers "Authorization Violation"), so they are passed on their own.
 */
export function natsConnectTarget(url: string): { servers: string; user?: string; pass?: string; token?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return { servers: url };
  }
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  if (user === '' && pass === '') return { servers: url };
  u.username = '';
  u.password = '';
  const servers = u.toString().replace(/\/$/, '');
  if (pass === '') return { servers, token: user };
  return { servers, user, pass };
}

/** The URL without user and password, for logs. */
function safeUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString();
  } catch {
    return '(unparsable url)';
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * Bus on NATS core. Connects in the background until it succeeds (so a
 * service can start before NATS is up: it is simply not ready), then lets
 * the client reconnect forever; subscriptions survive reconnects. Messages
 * published while disconnected are buffered by the client; after `close`
 * they are dropped.
 */
export async function createNatsBus(opts: NatsBusOptions): Promise<Bus> {
  const { prefix, log } = opts;
  const capMs = opts.maxReconnectDelayMs ?? 2000;
  const bindings = new Set<Binding>();
  const inFlight = new Set<(err: BusError) => void>();
  const waitingForConnection = new Set<() => void>();
  const reconnectListeners = new Set<() => void>();
  let nc: NatsConnection | undefined;
  let connected = false;
  let closed = false;
  let disconnectedAt = Date.now();
  let cancelRetry: (() => void) | undefined;

  function bind(c: NatsConnection, b: Binding): void {
    b.sub = c.subscribe(b.wire, {
      ...(b.queue !== undefined ? { queue: b.queue } : {}),
      callback: (err, msg) => {
        if (err !== null) log.warn({ err, subject: b.wire }, 'bus subscription error');
        else if (b.active) b.onMsg(msg);
      },
    });
  }

  function addBinding(wire: string, queue: string | undefined, onMsg: (msg: Msg) => void): Subscription {
    if (closed) return { unsubscribe() {} };
    const b: Binding = { wire, queue, onMsg, sub: undefined, active: true };
    bindings.add(b);
    if (nc !== undefined) bind(nc, b);
    return {
      unsubscribe() {
        if (!b.active) return;
        b.active = false;
        bindings.delete(b);
        try {
          b.sub?.unsubscribe();
        } catch (err) {
          log.debug({ err, subject: wire }, 'bus unsubscribe after close');
        }
      },
    };
  }

  async function watchStatus(c: NatsConnection): Promise<void> {
    for await (const s of c.status()) {
      switch (s.type) {
        case 'disconnect':
        case 'staleConnection':
          if (connected) disconnectedAt = Date.now();
          connected = false;
          log.warn({ status: s.type }, 'bus disconnected');
          break;
        case 'reconnect':
          connected = true;
          log.info({ server: s.server }, 'bus reconnected');
          for (const fn of [...reconnectListeners]) {
            try {
              fn();
            } catch (err) {
              log.warn({ err }, 'bus reconnect listener threw');
            }
          }
          break;
        case 'close':
          connected = false;
          break;
        case 'error':
          log.warn({ err: s.error }, 'bus server error');
          break;
        default:
          break;
      }
    }
  }

  function adopt(c: NatsConnection): void {
    nc = c;
    connected = true;
    void watchStatus(c).catch((err: unknown) => log.debug({ err }, 'bus status stream ended'));
    for (const b of bindings) bind(c, b);
    for (const wake of [...waitingForConnection]) wake();
    log.info({ server: c.getServer(), prefix }, 'bus connected');
  }

  async function connectLoop(): Promise<void> {
    let failures = 0;
    while (!closed) {
      try {
        const c = await connect({
          ...natsConnectTarget(opts.url),
          ...(opts.name !== undefined ? { name: opts.name } : {}),
          maxReconnectAttempts: -1,
          reconnectDelayHandler: () => reconnectDelayMs(Date.now() - disconnectedAt, capMs),
          // Notice a half-open connection within ~30 s instead of the default 4 minutes.
          pingInterval: 10_000,
          maxPingOut: 3,
          timeout: 5000,
        });
        if (closed) {
          await c.close();
          return;
        }
        adopt(c);
        return;
      } catch (err) {
        // One warning, then quiet retries: a service may wait a long time for NATS.
        const entry = { err: messageOf(err), url: safeUrl(opts.url), failures: ++failures };
        if (failures === 1) log.warn(entry, 'bus connect failed, retrying');
        else log.debug(entry, 'bus connect failed, retrying');
        await new Promise<void>((resolve) => {
          // Here one wait follows each failed connect, so the attempt count is the measure.
          const timer = setTimeout(resolve, backoffMs(failures, { baseMs: MIN_RECONNECT_DELAY_MS, maxMs: capMs, jitter: 0.2 }));
          cancelRetry = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        cancelRetry = undefined;
      }
    }
  }

  /** The connection, waiting for the first one at most `ms`; undefined when it did not come. */
  function connection(ms: number): Promise<NatsConnection | undefined> {
    if (nc !== undefined || closed) return Promise.resolve(nc);
    return new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        waitingForConnection.delete(wake);
        resolve(nc);
      };
      const timer = setTimeout(wake, ms);
      waitingForConnection.add(wake);
    });
  }

  function toBusError(err: unknown, subject: string): BusError {
    if (err instanceof BusError) return err;
    if (err instanceof errors.RequestError && err.isNoResponders()) {
      return new BusError('no_responders', `no responders for ${subject}`, { cause: err });
    }
    if (err instanceof errors.NoRespondersError) return new BusError('no_responders', `no responders for ${subject}`, { cause: err });
    if (err instanceof errors.TimeoutError || (err instanceof errors.RequestError && err.cause instanceof errors.TimeoutError)) {
      return new BusError('timeout', `request to ${subject} timed out`, { cause: err });
    }
    if (err instanceof errors.ClosedConnectionError || err instanceof errors.DrainingConnectionError || closed) {
      return new BusError('closed', 'bus closed', { cause: err });
    }
    // Anything else (a connection failure mid-request): the requester sees it as no answer in time.
    return new BusError('timeout', `request to ${subject} failed: ${messageOf(err)}`, { cause: err });
  }

  void connectLoop();
  await connection(opts.firstConnectWaitMs ?? 2000);

  return {
    publish(subject, data) {
      const wire = prefixSubject(prefix, subject);
      if (closed || nc === undefined) {
        log.debug({ subject }, 'bus not connected, message dropped');
        return;
      }
      try {
        nc.publish(wire, data);
      } catch (err) {
        log.debug({ err: messageOf(err), subject }, 'bus publish dropped');
      }
    },

    subscribe(subject: string, handler: MessageHandler, o?: { queue?: string }) {
      return addBinding(prefixSubject(prefix, subject), o?.queue, (msg) => {
        try {
          handler(msg.data, subject);
        } catch (err) {
          log.warn({ err, subject }, 'bus subscriber threw');
        }
      });
    },

    request(subject, data, { timeoutMs }) {
      const wire = prefixSubject(prefix, subject);
      if (closed) return Promise.reject(new BusError('closed', 'bus is closed'));
      return new Promise<Uint8Array>((resolve, reject) => {
        let done = false;
        const fail = (err: BusError): void => {
          if (done) return;
          done = true;
          inFlight.delete(fail);
          reject(err);
        };
        inFlight.add(fail);
        const started = Date.now();
        void (async () => {
          try {
            const c = await connection(timeoutMs);
            if (c === undefined) throw new BusError(closed ? 'closed' : 'timeout', `bus not connected: request to ${subject}`);
            const left = Math.max(1, timeoutMs - (Date.now() - started));
            const msg = await c.request(wire, data, { timeout: left });
            if (msg.headers?.get(REPLY_STATUS_HEADER) === 'error') {
              throw new BusError('remote', new TextDecoder().decode(msg.data) || 'remote error');
            }
            if (!done) {
              done = true;
              inFlight.delete(fail);
              resolve(msg.data);
            }
          } catch (err) {
            fail(toBusError(err, subject));
          }
        })();
      });
    },

    respond(subject: string, handler: RequestHandler) {
      return addBinding(prefixSubject(prefix, subject), RESPOND_QUEUE, (msg) => {
        void (async () => {
          let out: Uint8Array;
          try {
            out = await handler(msg.data, subject);
          } catch (err) {
            const h = headers();
            h.set(REPLY_STATUS_HEADER, 'error');
            const text = new TextEncoder().encode(messageOf(err).slice(0, MAX_REMOTE_MESSAGE));
            try {
              msg.respond(text, { headers: h });
            } catch (e) {
              log.debug({ err: messageOf(e), subject }, 'bus error reply dropped');
            }
            return;
          }
          try {
            msg.respond(out);
          } catch (e) {
            log.debug({ err: messageOf(e), subject }, 'bus reply dropped');
          }
        })();
      });
    },

    isReady: () => !closed && connected && nc !== undefined && !nc.isClosed(),

    onReconnect(fn) {
      reconnectListeners.add(fn);
      return () => reconnectListeners.delete(fn);
    },

    async ping(timeoutMs = 2000) {
      const c = nc;
      if (closed || !connected || c === undefined) return false;
      return settleWithin(c.flush().then(() => true), timeoutMs, false);
    },

    async close() {
      if (closed) return;
      closed = true;
      cancelRetry?.();
      for (const wake of [...waitingForConnection]) wake();
      for (const fail of [...inFlight]) fail(new BusError('closed', 'bus closed'));
      for (const b of bindings) b.active = false;
      bindings.clear();
      const c = nc;
      if (c === undefined || c.isClosed()) return;
      try {
        if (connected) {
          // Drain flushes what was published; bounded, since a dying server may never answer.
          await settleWithin(c.drain(), 2000, undefined);
        }
      } catch (err) {
        log.debug({ err: messageOf(err) }, 'bus drain failed');
      } finally {
        if (!c.isClosed()) await c.close().catch(() => undefined);
      }
    },
  };
}

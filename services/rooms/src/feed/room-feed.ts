import type { Bus, Logger, Subscription } from '@mesh/shared';
import type { RoomHistory } from '../history.js';
import { decodeWireMessage, roomSubject } from '../wire.js';
import { Sequencer, type SequencedMessage, type SequencerDeps } from './sequencer.js';

/** Where a room's messages go, in history order (the broadcaster, the price watch). */
export interface FeedSink {
  onMessage(hash: string, msg: SequencedMessage): void;
}

export interface RoomFeed {
  /**
   * Counts one more local subscriber of `hash`, subscribing to `rooms.<hash>`
   * for the first. Resolves once the broker routes that subject to us and the
   * room is anchored: a resume reads history only after this, so nothing
   * slips between.
   */
  retain(hash: string): Promise<void>;
  /** One local subscriber fewer; the last one unsubscribes. */
  release(hash: string): void;
  /** Unsubscribes everything (stop). */
  clear(): void;
  readonly subscriptions: number;
}

interface Entry {
  refs: number;
  sub: Subscription;
  sequencer: Sequencer;
  ready: Promise<void>;
}

export interface RoomFeedOptions {
  bus: Bus;
  log: Logger;
  history: Pick<RoomHistory, 'lastId' | 'after'>;
  /** Longest body a bus message may carry (longer ones are malformed). */
  maxDataLength: number;
  sinks: readonly FeedSink[];
}

/**
 * The bus side of rooms: one subscription per room hash with a reference
 * count (a worker listens to a room exactly while it has local subscribers of
 * it), each feeding the room's sequencer, whose ordered output goes to the
 * sinks. After a bus outage every room reads history past its last delivered
 * id (a quiet room would not see the gap until its next message).
 */
export function createRoomFeed(o: RoomFeedOptions): RoomFeed {
  const entries = new Map<string, Entry>();
  let offReconnect: (() => void) | undefined;
  const sequencing: SequencerDeps = {
    history: o.history,
    deliver(hash, msg) {
      for (const s of o.sinks) s.onMessage(hash, msg);
    },
    warn: (hash, what, err) => o.log.warn({ err, hash }, what),
  };

  function open(hash: string): Entry {
    const sequencer = new Sequencer(hash, sequencing);
    const sub = o.bus.subscribe(roomSubject(hash), (bytes) => {
      const msg = decodeWireMessage(bytes, o.maxDataLength);
      if (msg === undefined) o.log.warn({ hash }, 'malformed room message on the bus; ignored');
      else sequencer.arrive(msg);
    });
    const ready = (async () => {
      if (!(await o.bus.ping(2000))) {
        o.log.warn({ hash }, 'bus did not confirm the room subscription; live messages may be late');
      }
      await sequencer.anchor();
    })();
    return { refs: 1, sub, sequencer, ready };
  }

  function close(e: Entry): void {
    e.sub.unsubscribe();
    e.sequencer.close();
  }

  return {
    retain(hash) {
      offReconnect ??= o.bus.onReconnect(() => {
        for (const e of entries.values()) e.sequencer.resync();
      });
      const existing = entries.get(hash);
      if (existing !== undefined) {
        existing.refs++;
        return existing.ready;
      }
      const e = open(hash);
      entries.set(hash, e);
      return e.ready;
    },

    release(hash) {
      const e = entries.get(hash);
      if (e === undefined || --e.refs > 0) return;
      close(e);
      entries.delete(hash);
    },

    clear() {
      offReconnect?.();
      offReconnect = undefined;
      for (const e of entries.values()) close(e);
      entries.clear();
    },

    get subscriptions() {
      return entries.size;
    },
  };
}

import { describe, expect, test } from '@jest/globals';
import type { LogEntry } from '@mesh/shared';
import { EMPTY_ROOM, Sequencer, type SequencedMessage } from '../src/feed/sequencer.js';
import type { WireMessage } from '../src/wire.js';

/**
 * A room history held in an array, with the knobs the sequencer's cases need:
 * reads that wait for a gate, reads that fail, and a count of reads.
 */
class FakeHistory {
  entries: LogEntry[] = [];
  failing = false;
  failLastId = false;
  reads = 0;
  private gate: Promise<void> | undefined;
  private open: () => void = () => {};
  private seq = 0;

  /** Appends an entry and returns its bus message (with `prev`, as a worker publishes it). */
  add(data: string): WireMessage {
    const prev = this.entries[this.entries.length - 1]?.id ?? null;
    const id = `1000-${this.seq++}`;
    this.entries.push({ id, data });
    return { id, prev, data, at: 1000 };
  }

  /** Later reads wait until `release()`. */
  hold(): void {
    this.gate = new Promise((r) => { this.open = r; });
  }

  release(): void {
    this.gate = undefined;
    this.open();
  }

  readonly reader = {
    lastId: async (_hash: string): Promise<string | null> => {
      if (this.failLastId) throw new Error('store down');
      return this.entries[this.entries.length - 1]?.id ?? null;
    },
    after: async (_hash: string, afterId: string | null): Promise<LogEntry[]> => {
      this.reads++;
      await this.gate;
      if (this.failing) throw new Error('store down');
      const i = afterId === null ? 0 : this.entries.findIndex((e) => e.id === afterId) + 1;
      return this.entries.slice(i);
    },
  };
}

/** Settles every pending promise chain of the sequencer (its reads are microtasks on the fake). */
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

function setup(h = new FakeHistory(), maxQueue?: number): { h: FakeHistory; s: Sequencer; got: SequencedMessage[]; data: () => string[]; warnings: string[] } {
  const got: SequencedMessage[] = [];
  const warnings: string[] = [];
  const s = new Sequencer('a'.repeat(40), {
    history: h.reader, deliver: (_hash, m) => got.push(m), warn: (_hash, w) => warnings.push(w),
    ...(maxQueue !== undefined ? { maxQueue } : {}),
  });
  return { h, s, got, data: () => got.map((m) => (m.late === true ? `${m.data}(late)` : m.data)), warnings };
}

describe('sequencer (pure: a fake history, no bus)', () => {
  test('in-order arrivals are delivered as they come, with no history read', async () => {
    const { h, s, data } = setup();
    h.add('old');
    await s.anchor();
    const [a, b] = [h.add('a'), h.add('b')];
    s.arrive(a);
    s.arrive(b);
    await settle();
    expect(data()).toEqual(['a', 'b']);
    expect(h.reads).toBe(0);
    expect(s.last).toBe(b.id);
  });

  test('arrivals before the anchor wait for it; entries up to the anchor are not owed', async () => {
    const { h, s, data } = setup();
    const old = h.add('old');
    const a = h.add('a');
    s.arrive(a); // the anchor (a) is read after this arrived
    await s.anchor();
    await settle();
    expect(data()).toEqual([]);
    expect(s.last).toBe(a.id);
    expect(old.id < a.id).toBe(true);
    const b = h.add('b');
    s.arrive(b);
    await settle();
    expect(data()).toEqual(['b']);
  });

  test('an empty room anchors below every id: a second post overtaking the first loses neither', async () => {
    const { h, s, data } = setup();
    await s.anchor();
    expect(s.last).toBe(EMPTY_ROOM);
    const [first, second] = [h.add('first'), h.add('second')];
    s.arrive(second);
    s.arrive(first);
    await settle();
    expect(data()).toEqual(['first', 'second']);
  });

  test('a gap is filled from history, in order, and the overtaken copy is dropped when it comes', async () => {
    const { h, s, got, data } = setup();
    h.add('old');
    await s.anchor();
    const [w, x, y] = [h.add('W'), h.add('X'), h.add('Y')];
    s.arrive(y);
    await settle();
    expect(data()).toEqual(['W', 'X', 'Y']);
    // Read entries stand in the accept time of the message that revealed the gap.
    expect(got[0]?.at).toBe(y.at);
    s.arrive(w);
    s.arrive(x);
    await settle();
    expect(data()).toEqual(['W', 'X', 'Y']);
    expect(h.reads).toBe(1);
  });

  test('arrivals queue behind a slow gap fill and come out in order', async () => {
    const { h, s, data } = setup();
    await s.anchor();
    const ms = ['a', 'b', 'c', 'd'].map((d) => h.add(d));
    h.hold();
    s.arrive(ms[1] as WireMessage); // gap: a missing
    s.arrive(ms[3] as WireMessage); // queued, itself a gap (c) once b is out
    s.arrive(ms[0] as WireMessage); // queued, an old copy by then
    await settle();
    expect(data()).toEqual([]);
    h.release();
    await settle();
    expect(data()).toEqual(['a', 'b', 'c', 'd']);
  });

  test('a failed gap fill delivers the message; the skipped ones are delivered late when their copies come', async () => {
    const { h, s, data, warnings } = setup();
    await s.anchor();
    const [w, x, y] = [h.add('W'), h.add('X'), h.add('Y')];
    h.failing = true;
    s.arrive(y);
    await settle();
    expect(data()).toEqual(['Y']);
    expect(warnings).toContain('room history unavailable');
    h.failing = false;
    s.arrive(w);
    s.arrive(x);
    const z = h.add('Z');
    s.arrive(z);
    await settle();
    expect(data()).toEqual(['Y', 'W(late)', 'X(late)', 'Z']);
    // A copy of something delivered in order is still dropped.
    s.arrive(y);
    await settle();
    expect(data()).toHaveLength(4);
  });

  test('a full queue drops arrivals and reads them back from history once through: none lost, none repeated', async () => {
    const { h, s, data, warnings } = setup(new FakeHistory(), 3);
    await s.anchor();
    const ms = Array.from({ length: 10 }, (_v, i) => h.add(`m${i}`));
    h.hold();
    s.arrive(ms[1] as WireMessage); // gap fill of m0 stalls
    for (const m of [ms[0], ...ms.slice(2)]) s.arrive(m as WireMessage); // 3 queue, 6 overflow
    await settle();
    expect(warnings).toContain('room sequencing queue full; reading the overflow back from history');
    h.release();
    await settle();
    expect(data()).toEqual(ms.map((m) => m.data));
  });

  test('resync after a bus outage reads what history holds past the last delivered id', async () => {
    const { h, s, data } = setup();
    await s.anchor();
    s.arrive(h.add('live'));
    await settle();
    h.add('missed'); // its bus copy never comes
    s.resync();
    await settle();
    expect(data()).toEqual(['live', 'missed']);
  });

  test('without an anchor (store down at subscribe) messages are delivered as they come, and resync does nothing', async () => {
    const h = new FakeHistory();
    h.failLastId = true;
    const { s, data, warnings } = setup(h);
    await s.anchor();
    expect(s.last).toBeNull();
    expect(warnings).toContain('room history unavailable; sequencing without an anchor');
    const [a, b] = [h.add('a'), h.add('b')];
    s.resync();
    s.arrive(b);
    await settle();
    expect(h.reads).toBe(0);
    // b anchors the room from now on: a, older, is an old copy.
    s.arrive(a);
    s.arrive(h.add('c'));
    await settle();
    expect(data()).toEqual(['b', 'c']);
  });

  test('after close nothing is delivered, not even what a pending read returns', async () => {
    const { h, s, data } = setup();
    await s.anchor();
    const [a, b] = [h.add('a'), h.add('b')];
    h.hold();
    s.arrive(b);
    await settle();
    s.close();
    h.release();
    await settle();
    s.arrive(h.add('c'));
    await settle();
    expect(data()).toEqual([]);
    expect(a.id < b.id).toBe(true);
  });
});

import { EventEmitter } from 'node:events';
import type { ServerResponse } from 'node:http';
import { describe, expect, jest, test } from '@jest/globals';
import { BufferBudget } from '../src/streams/budget.js';
import { StreamRegistry } from '../src/streams/registry.js';
import { frameMessage } from '../src/streams/sse.js';
import { RoomStream, type DropReason, type FramedMessage } from '../src/streams/stream.js';

/** A response whose socket never drains: `writableLength` only grows, as with a stalled reader. */
class StalledResponse extends EventEmitter {
  written: string[] = [];
  writableLength = 0;
  destroyed = false;
  ended = false;
  write(chunk: string): boolean {
    this.written.push(chunk);
    this.writableLength += Buffer.byteLength(chunk);
    return false;
  }
  end(): void {
    this.ended = true;
    this.emit('close');
  }
  destroy(): void {
    this.destroyed = true;
    this.emit('close');
  }
  /** The client read everything. */
  drain(): void {
    this.writableLength = 0;
  }
}

const msg = (id: string, data = `d${id}`): FramedMessage => ({ id, frame: frameMessage(id, data), at: Date.now() });

function makeStream(opts: { resuming?: boolean; maxBufferBytes?: number; budget?: BufferBudget } = {}) {
  const res = new StalledResponse();
  const closed: (DropReason | undefined)[] = [];
  const written: string[] = [];
  const stream = new RoomStream({
    hash: 'a'.repeat(40), ip: '203.0.113.9', res: res as unknown as ServerResponse,
    maxBufferBytes: opts.maxBufferBytes ?? 1 << 20, budget: opts.budget ?? new BufferBudget(1 << 30), resuming: opts.resuming ?? false,
    onClose: (_s, reason) => closed.push(reason),
    onWritten: (m) => written.push(m.id),
  });
  return { res, stream, closed, written };
}

describe('RoomStream', () => {
  test('a reader whose unwritten bytes pass the bound is dropped as slow, and only once', () => {
    const { res, stream, closed } = makeStream({ maxBufferBytes: 2048 });
    let i = 0;
    while (!stream.isClosed && i < 1000) stream.deliver(msg(`${++i}-0`, 'x'.repeat(200)));
    expect(stream.isClosed).toBe(true);
    expect(res.destroyed).toBe(true);
    expect(closed).toEqual(['slow']);
    expect(i).toBeLessThan(20);
    const before = res.written.length;
    stream.deliver(msg('9999-0'));
    expect(res.written.length).toBe(before);
  });

  test('a message the feed marks late goes out without its id, keeping Last-Event-ID at the highest', () => {
    const { res, stream, written } = makeStream();
    stream.deliver(msg('7-1', 'second'));
    stream.deliver({ ...msg('7-0', 'first'), late: true });
    stream.deliver(msg('8-0', 'third'));
    expect(res.written).toEqual(['id: 7-1\ndata: second\n\n', 'data: first\n\n', 'id: 8-0\ndata: third\n\n']);
    expect(written).toEqual(['7-1', '7-0', '8-0']);
  });

  test('a reader that keeps up is never dropped', () => {
    const { res, stream } = makeStream({ maxBufferBytes: 2048 });
    for (let i = 1; i <= 1000; i++) {
      stream.deliver(msg(`${i}-0`, 'x'.repeat(200)));
      res.drain();
    }
    expect(stream.isClosed).toBe(false);
  });

  test('resume: live messages wait for the replay, then only those above it go out, in arrival order', () => {
    const { res, stream, written } = makeStream({ resuming: true });
    stream.deliver(msg('5-0'));
    stream.deliver(msg('6-0'));
    stream.deliver(msg('4-0'));
    expect(res.written).toEqual([]);
    for (const id of ['3-0', '4-0', '5-0']) stream.replay(msg(id));
    stream.goLive('2-0');
    expect(res.written.join('')).toBe(['3-0', '4-0', '5-0', '6-0'].map((id) => msg(id).frame).join(''));
    expect(written).toEqual(['6-0']);
    stream.deliver(msg('7-0'));
    expect(written).toEqual(['6-0', '7-0']);
  });

  test('resume with nothing to replay: the Last-Event-ID is the floor', () => {
    const { res, stream } = makeStream({ resuming: true });
    stream.deliver(msg('2-0'));
    stream.deliver(msg('3-0'));
    stream.goLive('2-0');
    expect(res.written.join('')).toBe(msg('3-0').frame);
  });

  test('held live messages count against the buffer bound', () => {
    const { stream, closed } = makeStream({ resuming: true, maxBufferBytes: 1024 });
    for (let i = 1; i <= 10 && !stream.isClosed; i++) stream.deliver(msg(`${i}-0`, 'y'.repeat(200)));
    expect(closed).toEqual(['slow']);
  });

  test('a client that goes away closes the stream without a drop reason', () => {
    const { res, stream, closed } = makeStream();
    res.emit('close');
    res.emit('close');
    expect(stream.isClosed).toBe(true);
    expect(closed).toEqual([undefined]);
  });
});

describe('backpressure and the worker budget', () => {
  /** A response that takes `room` bytes, then refuses until `drain()`. */
  class TightResponse extends StalledResponse {
    constructor(private readonly room: number) {
      super();
    }
    override write(chunk: string): boolean {
      super.write(chunk);
      return this.writableLength < this.room;
    }
    override drain(): void {
      super.drain();
      this.emit('drain');
    }
  }

  function tight(budget: BufferBudget, room = 100) {
    const res = new TightResponse(room);
    const closed: (DropReason | undefined)[] = [];
    const stream = new RoomStream({
      hash: 'a'.repeat(40), ip: '203.0.113.9', res: res as unknown as ServerResponse,
      maxBufferBytes: 1 << 20, budget, resuming: false,
      onClose: (_s, reason) => closed.push(reason), onWritten: () => undefined,
    });
    return { res, stream, closed };
  }

  test('a refused write stalls the stream until drain; whenDrained waits for it; the budget counts its bytes', async () => {
    const budget = new BufferBudget(1 << 20);
    const { res, stream } = tight(budget);
    stream.write('x'.repeat(50));
    expect(stream.stalledSince).toBeUndefined();
    stream.write('x'.repeat(80));
    expect(stream.stalledSince).toBeDefined();
    expect(budget.bytes).toBe(130);
    expect(budget.stalledCount).toBe(1);
    let drained = false;
    const waiting = stream.whenDrained().then(() => (drained = true));
    await Promise.resolve();
    expect(drained).toBe(false);
    res.drain();
    await waiting;
    expect(stream.stalledSince).toBeUndefined();
    expect(budget.bytes).toBe(0);
    expect(budget.stalledCount).toBe(0);
    expect(stream.isClosed).toBe(false);
  });

  test('a full budget drops the stalest stalled readers first, never one that keeps up', () => {
    const budget = new BufferBudget(1000);
    const a = tight(budget);
    const b = tight(budget);
    const keeps = tight(budget, 1 << 20);
    a.stream.write('x'.repeat(400)); // stalls first
    b.stream.write('x'.repeat(400));
    keeps.stream.write('x'.repeat(150));
    expect(budget.bytes).toBe(950);
    b.stream.write('x'.repeat(100)); // 1050: over
    expect(a.closed).toEqual(['slow']);
    expect(b.closed).toEqual([]);
    expect(keeps.closed).toEqual([]);
    expect(budget.bytes).toBe(650);
    expect(budget.peakBytes).toBeLessThanOrEqual(1000);
  });

  test('a reader stalled too long is dropped; one stalled later is not', () => {
    const budget = new BufferBudget(1 << 20);
    const old = tight(budget);
    const young = tight(budget);
    const now = jest.spyOn(Date, 'now');
    try {
      now.mockReturnValue(1_000);
      old.stream.write('x'.repeat(200));
      now.mockReturnValue(5_000);
      young.stream.write('x'.repeat(200));
    } finally {
      now.mockRestore();
    }
    budget.dropStalledSince(4_999);
    expect(old.closed).toEqual(['slow']);
    expect(young.closed).toEqual([]);
  });

  test('kernel send queue: bytes the peer does not acknowledge stall the reader; acknowledged progress clears it', () => {
    const budget = new BufferBudget(1 << 20);
    const { res, stream } = tight(budget, 1 << 20);
    const sock = { bytesWritten: 5000, writableLength: 0 };
    (res as unknown as { socket: typeof sock }).socket = sock;
    stream.noteKernelQueue(4000, 1); // 1000 acknowledged: progress
    expect(stream.stalledSince).toBeUndefined();
    expect(budget.bytes).toBe(4000);
    stream.noteKernelQueue(4000, 2); // nothing more acknowledged
    expect(stream.stalledSince).toBe(2);
    sock.bytesWritten = 6000;
    stream.noteKernelQueue(4000, 3); // 2000 acknowledged: it reads
    expect(stream.stalledSince).toBeUndefined();
    stream.noteKernelQueue(4000, 4);
    stream.noteKernelQueue(0, 5); // all acknowledged
    expect(stream.stalledSince).toBeUndefined();
    sock.bytesWritten = 6100;
    stream.noteKernelQueue(100, 6); // new bytes in flight, none queued at the last sample: not a stall
    expect(stream.stalledSince).toBeUndefined();
    stream.noteKernelQueue(100, 7);
    expect(stream.stalledSince).toBe(7);
    stream.noteKernelQueue(0, 8);
    expect(stream.stalledSince).toBeUndefined();
    expect(budget.bytes).toBe(0);
  });
});

describe('StreamRegistry', () => {
  test('an IPv6 client is counted by its network, an IPv4 client by its address', () => {
    const r = new StreamRegistry({ maxPerIp: 2, maxStreams: 100, ipv6Prefix: 64 });
    expect(r.admit('2001:db8:1:2::1')).toBeDefined();
    expect(r.admit('2001:db8:1:2:ffff::9')).toBeDefined();
    expect(r.admit('2001:db8:1:2:abcd::1')).toBeUndefined();
    expect(r.admit('2001:db8:1:3::1')).toBeDefined();
    expect(r.admit('203.0.113.1')).toBeDefined();
    expect(r.admit('::ffff:203.0.113.1')).toBeDefined();
    expect(r.admit('203.0.113.1')).toBeUndefined();
    expect(r.admit('203.0.113.2')).toBeDefined();
    const wide = new StreamRegistry({ maxPerIp: 1, maxStreams: 100, ipv6Prefix: 48 });
    expect(wide.admit('2001:db8:1:2::1')).toBeDefined();
    expect(wide.admit('2001:db8:1:ffff::1')).toBeUndefined();
  });

  const fakeStream = (hash: string, ip: string) => ({ hash, ip }) as RoomStream;

  test('caps per IP and in total; released slots are reusable; no entry outlives its streams', () => {
    const r = new StreamRegistry({ maxPerIp: 2, maxStreams: 3, ipv6Prefix: 64 });
    const s1 = r.admit('ip1');
    const s2 = r.admit('ip1');
    expect(r.admit('ip1')).toBeUndefined();
    const s3 = r.admit('ip2');
    expect(r.admit('ip3')).toBeUndefined();
    s1?.release();
    s1?.release();
    expect(r.size).toBe(2);
    const s4 = r.admit('ip3');
    expect(s4).toBeDefined();
    for (const s of [s2, s3, s4]) s?.release();
    expect(r.size).toBe(0);
    expect(r.ipCount).toBe(0);
  });

  test('rooms appear with their first stream and vanish with their last', () => {
    const r = new StreamRegistry({ maxPerIp: 10, maxStreams: 10, ipv6Prefix: 64 });
    const x = fakeStream('h1', 'ip');
    const y = fakeStream('h1', 'ip');
    expect(r.add(x)).toBe(true);
    expect(r.add(y)).toBe(false);
    expect(r.roomCount).toBe(1);
    expect(r.remove(x)).toBe(false);
    expect(r.remove(x)).toBe(false);
    expect(r.remove(y)).toBe(true);
    expect(r.roomCount).toBe(0);
    expect([...r.streams()]).toEqual([]);
  });
});

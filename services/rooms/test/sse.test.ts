import { describe, expect, test } from '@jest/globals';
import { frameEvent, frameMessage, frameRetry, framedBodyBytes } from '../src/streams/sse.js';
import { parseSendQueues, procPeerKey } from '../src/streams/send-queue.js';
import { isRoomHash } from '../src/room-hash.js';

/** Parses frames the way EventSource does (one event per blank-line-terminated block). */
function parse(stream: string): { event: string; id: string | undefined; data: string }[] {
  const out: { event: string; id: string | undefined; data: string }[] = [];
  for (const block of stream.split('\n\n').filter((b) => b !== '')) {
    let event = 'message';
    let id: string | undefined;
    const data: string[] = [];
    for (const line of block.split(/\r\n|\r|\n/)) {
      const colon = line.indexOf(':');
      const field = line.slice(0, colon);
      const value = line.slice(colon + 1).replace(/^ /, '');
      if (field === 'event') event = value;
      else if (field === 'id') id = value;
      else if (field === 'data') data.push(value);
    }
    out.push({ event, id, data: data.join('\n') });
  }
  return out;
}

describe('SSE framing', () => {
  test('a message is one event with its id; every kind of line break becomes a data line', () => {
    const body = 'a\nb\r\nc\rd';
    expect(frameMessage('17-3', body)).toBe('id: 17-3\ndata: a\ndata: b\ndata: c\ndata: d\n\n');
  });

  test('a body cannot inject fields or events', () => {
    const evil = 'x\n\nevent: price\ndata: {"work":1}\nid: 99-9\r\rretry: 1\n';
    const events = parse(frameMessage('1-0', evil));
    expect(events).toHaveLength(1);
    expect(events[0]).toEqual({ event: 'message', id: '1-0', data: evil.replace(/\r\n|\r/g, '\n') });
  });

  test('leading spaces and colons survive', () => {
    expect(parse(frameMessage('1-0', '  two spaces\n: not a comment'))[0]?.data).toBe('  two spaces\n: not a comment');
  });

  test('named events carry no id; retry', () => {
    expect(frameEvent('price', '{"work":16}')).toBe('event: price\ndata: {"work":16}\n\n');
    expect(frameRetry(2000)).toBe('retry: 2000\n\n');
  });
});

describe('framed body size (the post limit)', () => {
  test('each line break weighs the 7 bytes it frames to', () => {
    expect(framedBodyBytes('abc')).toBe(3);
    expect(framedBodyBytes('é')).toBe(2);
    expect(framedBodyBytes('a\nb')).toBe(9);
    expect(framedBodyBytes('a\r\nb')).toBe(9);
    expect(framedBodyBytes('a\rb')).toBe(9);
    expect(framedBodyBytes('\n'.repeat(146))).toBe(1022);
    // The weight is what the data lines add beyond one `data: ` line.
    const body = 'x\ny\r\n\nz';
    expect(framedBodyBytes(body)).toBe(Buffer.byteLength(frameMessage('1-0', body)) - 'id: 1-0\ndata: \n\n'.length);
  });
});

describe('kernel send queues (/proc/net/tcp)', () => {
  test('established connections on the port, keyed by the peer as /proc writes it', () => {
    const tcp = [
      '  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode',
      '   0: 0100007F:1F90 0200007F:9C40 01 0000A000:00000000 00:00000000 00000000     0        0 1 1 0 100 0 0 10 0',
      '   1: 0100007F:1F90 0300007F:9C41 0A 00000010:00000000 00:00000000 00000000     0        0 2 1 0 100 0 0 10 0',
      '   2: 0100007F:1F91 0200007F:9C42 01 00000010:00000000 00:00000000 00000000     0        0 3 1 0 100 0 0 10 0',
    ].join('\n');
    const tcp6 = [
      '  sl  local_address                         remote_address                        st tx_queue rx_queue',
      '   0: 00000000000000000000000000000000:1F90 0000000000000000FFFF00000500007F:0050 01 00000100:00000000 00:0 0 0 0 1',
      '   1: 00000000000000000000000001000000:1F90 B80D0120000000000000000001000000:0051 01 00000002:00000000 00:0 0 0 0 1',
    ].join('\n');
    const out = new Map<string, number>();
    parseSendQueues(tcp, 8080, out);
    parseSendQueues(tcp6, 8080, out);
    const k1 = procPeerKey('127.0.0.2', 40000);
    const k2 = procPeerKey('::ffff:127.0.0.5', 80);
    const k3 = procPeerKey('2001:db8::1', 81);
    expect([k1, k2, k3]).toEqual(['0200007F:9C40', '0000000000000000FFFF00000500007F:0050', 'B80D0120000000000000000001000000:0051']);
    expect(out).toEqual(new Map([[k1, 0xa000], [k2, 0x100], [k3, 2]]));
  });
});

describe('room hash', () => {
  test('40 or 64 lower-case hex only', () => {
    expect(isRoomHash('a'.repeat(40))).toBe(true);
    expect(isRoomHash('0123456789abcdef'.repeat(4))).toBe(true);
    for (const bad of ['', 'A'.repeat(40), 'a'.repeat(41), 'a'.repeat(63), `${'a'.repeat(40)}\n`, `${'a'.repeat(39)}.`]) {
      expect(isRoomHash(bad)).toBe(false);
    }
  });
});

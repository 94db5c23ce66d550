import { describe, expect, test } from '@jest/globals';
import { frameEvent, frameMessage, frameRetry } from '../src/sse.js';
import { isRoomHash } from '../src/hash.js';

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

describe('room hash', () => {
  test('40 or 64 lower-case hex only', () => {
    expect(isRoomHash('a'.repeat(40))).toBe(true);
    expect(isRoomHash('0123456789abcdef'.repeat(4))).toBe(true);
    for (const bad of ['', 'A'.repeat(40), 'a'.repeat(41), 'a'.repeat(63), `${'a'.repeat(40)}\n`, `${'a'.repeat(39)}.`]) {
      expect(isRoomHash(bad)).toBe(false);
    }
  });
});

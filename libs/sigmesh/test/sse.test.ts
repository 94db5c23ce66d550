import { describe, test, expect } from '@jest/globals';
import { SseParser, type SseEvent } from '../src/sse.js';

function parse(chunks: string[], lastId = ''): { events: SseEvent[]; retries: number[]; comments: string[] } {
  const events: SseEvent[] = [];
  const retries: number[] = [];
  const comments: string[] = [];
  const p = new SseParser({ onEvent: (e) => events.push(e), onRetry: (ms) => retries.push(ms), onComment: (c) => comments.push(c) }, lastId);
  for (const c of chunks) p.feed(c);
  return { events, retries, comments };
}

const stream = 'retry: 2000\n\nevent: price\ndata: {"work":4096}\n\n: ka\n\nid: 1-0\ndata: line one\ndata: line two\n\nid: 1-1\ndata:no space\ndata:  two spaces\n\n';

describe('SSE parser', () => {
  test('fields, multi-line data, ids, comments, retry', () => {
    const { events, retries, comments } = parse([stream]);
    expect(retries).toEqual([2000]);
    expect(comments).toEqual(['ka']);
    expect(events).toEqual([
      { event: 'price', data: '{"work":4096}', lastEventId: '' },
      { event: 'message', data: 'line one\nline two', lastEventId: '1-0' },
      { event: 'message', data: 'no space\n two spaces', lastEventId: '1-1' },
    ]);
  });

  test('same result for every split of the stream, with LF, CRLF and CR line ends', () => {
    const expected = parse([stream]).events;
    for (const eol of ['\n', '\r\n', '\r']) {
      const s = stream.replace(/\n/g, eol);
      for (let cut = 0; cut <= s.length; cut++) expect(parse([s.slice(0, cut), s.slice(cut)]).events).toEqual(expected);
      expect(parse(Array.from(s)).events).toEqual(expected);
    }
  });

  test('no dispatch without data; empty data line dispatches an empty string; unknown fields ignored', () => {
    expect(parse(['id: 5\n\nevent: x\n\n']).events).toEqual([]);
    expect(parse(['data\n\n']).events).toEqual([{ event: 'message', data: '', lastEventId: '' }]);
    expect(parse(['foo: bar\ndata: x\n\n']).events).toEqual([{ event: 'message', data: 'x', lastEventId: '' }]);
  });

  test('the last id persists and an initial id is kept; ids with NUL are ignored', () => {
    const { events } = parse(['data: a\n\nid: 7\u0000\ndata: b\n\nid: 8\ndata: c\n\ndata: d\n\n'], '6');
    expect(events.map((e) => e.lastEventId)).toEqual(['6', '6', '8', '8']);
  });

  test('bad retry values are ignored', () => {
    expect(parse(['retry: 1s\nretry: -3\nretry: 500\n']).retries).toEqual([500]);
  });

  test('an endless line is refused instead of buffered', () => {
    const p = new SseParser({ onEvent: () => undefined, maxLineLength: 100 });
    expect(() => p.feed('data: ' + 'x'.repeat(200))).toThrow(RangeError);
  });
});

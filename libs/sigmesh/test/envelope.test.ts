import { describe, test, expect } from '@jest/globals';
import { MAX_BODY_BYTES, Reassembler, RecentIds, asciiJson, fragment, parseEnvelope, randomId } from '../src/envelope.js';

describe('envelope', () => {
  test('ascii JSON round-trips unicode and measures bytes', () => {
    const v = { text: 'héllo ✓ 🎉' };
    const s = asciiJson(v);
    expect(/^[\x00-\x7f]*$/.test(s)).toBe(true);
    expect(JSON.parse(s)).toEqual(v);
  });

  test('parse validates shape', () => {
    const from = randomId(16);
    expect(parseEnvelope(JSON.stringify({ v: 1, mid: 'abcdefgh12', from, t: 'msg', data: 1 }))).toEqual({ v: 1, mid: 'abcdefgh12', from, t: 'msg', data: 1 });
    expect(parseEnvelope(JSON.stringify({ v: 1, mid: 'abcdefgh12', from, t: 'nope' }))).toBeNull();
    expect(parseEnvelope(JSON.stringify({ v: 1, mid: 'x', from, t: 'msg' }))).toBeNull();
    expect(parseEnvelope(JSON.stringify({ v: 1, mid: 'abcdefgh12', from: 'Z', t: 'msg' }))).toBeNull();
    expect(parseEnvelope(JSON.stringify({ v: 1, mid: 'abcdefgh12', from, to: 5, t: 'msg' }))).toBeNull();
    expect(parseEnvelope('not json')).toBeNull();
  });

  test('fragments fit the body limit and reassemble in any order, despite duplicates', () => {
    const payload = asciiJson({ sdp: 'v=0\r\n' + 'a=candidate:x '.repeat(400) });
    const parts = fragment(payload, randomId(8));
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) expect(Buffer.byteLength(p)).toBeLessThanOrEqual(MAX_BODY_BYTES);
    const r = new Reassembler();
    const shuffled = [...parts, ...parts].reverse(); // as if from two nodes
    const done = shuffled.map((p) => r.push(p)).filter((x) => x !== null);
    expect(done).toEqual([payload]);
    expect(fragment('short', 'abcdefgh')).toEqual(['short']);
  });

  test('too large payloads are refused; pending reassembly is bounded', () => {
    expect(() => fragment('x'.repeat(MAX_BODY_BYTES * 17), 'abcdefgh')).toThrow(RangeError);
    const r = new Reassembler(2, 1000);
    r.push('f1.aaaaaaaa.0.2.A', 0);
    r.push('f1.bbbbbbbb.0.2.B', 0);
    r.push('f1.cccccccc.0.2.C', 0); // evicts aaaaaaaa
    expect(r.push('f1.aaaaaaaa.1.2.a', 0)).toBeNull();
    expect(r.push('f1.cccccccc.1.2.c', 0)).toBe('Cc');
    expect(r.push('f1.bbbbbbbb.1.2.b', 5000)).toBeNull(); // expired
    expect(r.push('f1.dddddddd.5.2.x', 0)).toBeNull(); // index out of range
  });

  test('recent ids dedupe and forget the oldest beyond capacity', () => {
    const ids = new RecentIds(3);
    expect(ids.add('a')).toBe(true);
    expect(ids.add('a')).toBe(false);
    ids.add('b'); ids.add('c'); ids.add('d');
    expect(ids.add('a')).toBe(true);
    expect(ids.add('d')).toBe(false);
  });
});

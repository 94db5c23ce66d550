import { describe, test, expect } from '@jest/globals';
import { wantsEventStream, wantsJson } from '../src/http/negotiate.js';

function input(headers: Record<string, string>, querystring = '') {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return { get: (f: string) => lower[f.toLowerCase()] ?? '', querystring };
}

describe('wantsJson', () => {
  test.each<[string, Record<string, string>, string, boolean]>([
    ['Accept application/json', { Accept: 'application/json' }, '', true],
    ['Accept list with json', { Accept: 'text/html, Application/JSON;q=0.5' }, '', true],
    ['json refused with q=0', { Accept: 'application/json;q=0' }, '', false],
    ['browser Accept', { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' }, '', false],
    ['wildcard only', { Accept: '*/*' }, '', false],
    ['Content-Type JSON', { 'Content-Type': 'application/json; charset=utf-8' }, '', true],
    ['Content-Type +json', { 'Content-Type': 'application/problem+json' }, '', true],
    ['Content-Type text', { 'Content-Type': 'text/plain' }, '', false],
    ['format=json', {}, 'a=1&format=json', true],
    ['format=html', {}, 'format=html', false],
    ['nothing', {}, '', false],
  ])('%s', (_n, headers, qs, expected) => {
    expect(wantsJson(input(headers, qs))).toBe(expected);
  });
});

describe('wantsEventStream', () => {
  test.each<[string, boolean]>([
    ['text/event-stream', true],
    ['text/html, text/event-stream;q=0.9', true],
    ['text/event-stream;q=0', false],
    ['application/json', false],
    ['*/*', false],
    ['', false],
  ])('Accept %p', (accept, expected) => {
    expect(wantsEventStream(input(accept === '' ? {} : { Accept: accept }))).toBe(expected);
  });
});

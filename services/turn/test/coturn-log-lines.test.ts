import { describe, expect, test } from '@jest/globals';
import { classifyCoturnLine, createRefusalDeduper } from '../src/coturn/log-lines.js';

// Lines as coturn 4.6.1 wrote them on this machine (prefix stripped).
describe('coturn log lines', () => {
  test.each([
    ['Cannot bind local socket to addr: Address already in use', 'fault'],
    ['Trying to bind fd 15 to <127.0.0.1:36500>: errno=98', 'fault'],
    ['Cannot bind TLS/TCP listener socket to addr 127.0.0.1:36500', 'fault'],
    ['ERROR: Cannot open config file: /nope', 'fault'],
    ['session 000000000000000001: realm <mesh.test> user <>: incoming packet message processed, error 401: Unauthorized', 'packet'],
    ['ERROR: A peer IP 10.0.0.1 denied in the range: 10.0.0.0-10.255.255.255', 'packet'],
    ['session 000000000000000001: new, realm=<mesh.test>, username=<1796308041:x>, lifetime=600', 'packet'],
    ["Version Coturn-4.6.1 'Gorst'", 'banner'],
    ['Black listing: 10.0.0.0-10.255.255.255', 'banner'],
    ['socket: Protocol not supported', 'banner'],
    ['IPv4. UDP listener opened on: 127.0.0.1:3478', 'banner'],
    ['WARNING: I cannot support STUN CHANGE_REQUEST functionality because only one IP address is provided', 'banner'],
  ])('%s: %s', (line, kind) => {
    expect(classifyCoturnLine(line)).toBe(kind);
  });

  test('a refused request is counted once: the method line, then its `message` repeat', () => {
    const d = createRefusalDeduper();
    const user = '1796308041:x';
    const method = d(`session 000000000000000001: realm <mesh.test> user <${user}>: incoming packet CREATE_PERMISSION processed, error 403: Forbidden IP`);
    const repeat = d(`session 000000000000000001: realm <mesh.test> user <${user}>: incoming packet message processed, error 403: Forbidden IP`);
    expect(method).toEqual({ repeat: false });
    expect(repeat).toEqual({ refused: { user, code: '403' }, repeat: true });
    // Refused before dispatch (a challenge): only the `message` line, which is then no repeat.
    expect(d('session 000000000000000002: realm <mesh.test> user <>: incoming packet message processed, error 401: Unauthorized'))
      .toEqual({ refused: { user: '', code: '401' }, repeat: false });
  });
});

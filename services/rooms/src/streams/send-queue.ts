import { readFile } from 'node:fs/promises';
import { parseIp } from '@mesh/shared';

/**
 * The kernel's send queues of this host's TCP sockets (Linux: `tx_queue` of
 * /proc/net/tcp and tcp6, bytes written but not yet acknowledged by the
 * peer). A reader that never reads stops acknowledging, and what we wrote
 * piles up there, invisible to `writableLength`: on loopback 640 such streams
 * held 558 MiB of kernel send queue and no byte in user space.
 */

/**
 * Key of a connection as /proc writes its peer: the address as 8 (IPv4) or
 * 32 (IPv6, IPv4-mapped included) hex digits, 32-bit words in host order
 * (little-endian), then `:` and the port in 4 hex digits. Computed once per
 * stream, so a sweep compares raw text and decodes no address.
 */
export function procPeerKey(ip: string, port: number): string | undefined {
  const b = parseIp(ip);
  if (b === undefined) return undefined;
  let hex = '';
  for (let word = 0; word < b.length; word += 4) {
    for (let i = 3; i >= 0; i--) hex += (b[word + i] ?? 0).toString(16).padStart(2, '0');
  }
  return `${hex}:${port.toString(16).padStart(4, '0')}`.toUpperCase();
}

/**
 * Established connections on `localPort` → bytes in their send queue, keyed
 * as procPeerKey. Fixed fields, no regex: a sweep reads one line per socket.
 */
export function parseSendQueues(text: string, localPort: number, into: Map<string, number>): void {
  const portHex = `:${localPort.toString(16).toUpperCase().padStart(4, '0')} `;
  for (let start = 0; start < text.length;) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    // `  sl: local remote st tx:rx ...`
    const colon = text.indexOf(': ', start);
    if (colon !== -1 && colon < end) {
      const local = colon + 2;
      const remote = text.indexOf(' ', local) + 1;
      const state = text.indexOf(' ', remote) + 1;
      if (remote > 0 && state > 0 && state < end && text.startsWith(portHex, remote - portHex.length)
        && text.startsWith('01 ', state)) { // 01: established
        const tx = parseInt(text.slice(state + 3, text.indexOf(':', state + 3)), 16);
        into.set(text.slice(remote, state - 1), Number.isFinite(tx) ? tx : 0);
      }
    }
    start = end + 1;
  }
}

/**
 * Reads the send queues of connections on `localPort`; undefined where the
 * kernel does not expose them (not Linux): then only user-space bytes count.
 */
export async function readSendQueues(localPort: number): Promise<Map<string, number> | undefined> {
  const out = new Map<string, number>();
  let any = false;
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    try {
      parseSendQueues(await readFile(file, 'utf8'), localPort, out);
      any = true;
    } catch {
      // Absent (no IPv6, not Linux): the other file, or nothing.
    }
  }
  return any ? out : undefined;
}

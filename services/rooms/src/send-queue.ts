import { readFile } from 'node:fs/promises';
import { formatIp, normalizeIp } from '@mesh/shared';

/**
 * The kernel's send queues of this host's TCP sockets (Linux: `tx_queue` of
 * /proc/net/tcp and tcp6, bytes written but not yet acknowledged by the
 * peer). A reader that never reads stops acknowledging, and what we wrote
 * piles up there, invisible to `writableLength`: on loopback 640 such streams
 * held 558 MiB of kernel send queue and no byte in user space.
 */

/** Key of a connection as seen from our side: the peer's address and port. */
export function peerKey(ip: string, port: number): string {
  return `${normalizeIp(ip)}|${port}`;
}

/** `0100007F` (IPv4, one little-endian word) or 32 hex digits (IPv6, four such words) as address bytes. */
function procAddress(hex: string): Uint8Array | undefined {
  if (hex.length !== 8 && hex.length !== 32) return undefined;
  const out = new Uint8Array(hex.length / 2);
  for (let word = 0; word < hex.length / 8; word++) {
    for (let i = 0; i < 4; i++) {
      out[word * 4 + i] = parseInt(hex.slice(word * 8 + (3 - i) * 2, word * 8 + (3 - i) * 2 + 2), 16);
    }
  }
  return out;
}

/** Established connections on `localPort` → bytes in their send queue. */
export function parseSendQueues(text: string, localPort: number, into: Map<string, number>): void {
  const portHex = `:${localPort.toString(16).toUpperCase().padStart(4, '0')}`;
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    const [local, remote, state, queues] = [f[1], f[2], f[3], f[4]];
    if (local === undefined || remote === undefined || queues === undefined) continue;
    if (state !== '01' || !local.endsWith(portHex)) continue; // 01: established
    const colon = remote.indexOf(':');
    const addr = procAddress(remote.slice(0, colon));
    if (addr === undefined) continue;
    const tx = parseInt(queues.slice(0, queues.indexOf(':')), 16);
    into.set(peerKey(formatIp(addr), parseInt(remote.slice(colon + 1), 16)), Number.isFinite(tx) ? tx : 0);
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

import { randomBytes } from 'node:crypto';
import { createSocket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { formatIp } from '@mesh/shared';

const MAGIC = 0x2112a442;

/**
 * Sends one STUN Binding request and resolves with the XOR-MAPPED-ADDRESS of
 * the answer; rejects after `timeoutMs`. Used to know a backend is serving
 * (readiness) and by tests.
 */
export function stunBinding(host: string, port: number, timeoutMs = 1000): Promise<{ address: string; port: number }> {
  const sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  const tid = randomBytes(12);
  const req = Buffer.alloc(20);
  req.writeUInt16BE(0x0001, 0);
  req.writeUInt32BE(MAGIC, 4);
  tid.copy(req, 8);
  return new Promise((resolve, reject) => {
    const done = (err: Error | null, value?: { address: string; port: number }): void => {
      clearTimeout(timer);
      sock.close();
      if (err) reject(err);
      else if (value) resolve(value);
    };
    const timer = setTimeout(() => done(new Error(`no STUN answer from ${host}:${port}`)), timeoutMs);
    sock.on('error', (err) => done(err));
    sock.on('message', (msg) => {
      if (msg.length < 20 || msg.readUInt16BE(0) !== 0x0101 || !msg.subarray(8, 20).equals(tid)) return;
      const mapped = readXorMapped(msg);
      if (mapped) done(null, mapped);
    });
    sock.send(req, port, host);
  });
}

/** XOR-MAPPED-ADDRESS of either family (IPv6 is XORed with the cookie and the transaction id). */
function readXorMapped(msg: Buffer): { address: string; port: number } | undefined {
  let off = 20;
  const end = Math.min(msg.length, 20 + msg.readUInt16BE(2));
  while (off + 4 <= end) {
    const type = msg.readUInt16BE(off);
    const len = msg.readUInt16BE(off + 2);
    const size = msg[off + 5] === 0x01 ? 4 : msg[off + 5] === 0x02 ? 16 : 0;
    if (type === 0x0020 && size > 0 && len >= 4 + size && off + 8 + size <= msg.length) {
      const port = msg.readUInt16BE(off + 6) ^ (MAGIC >>> 16);
      const key = msg.subarray(4, 20); // magic cookie, then transaction id
      const bytes = Uint8Array.from(msg.subarray(off + 8, off + 8 + size), (b, i) => b ^ (key[i] ?? 0));
      return { address: formatIp(bytes), port };
    }
    off += 4 + len + ((4 - (len % 4)) % 4);
  }
  return undefined;
}

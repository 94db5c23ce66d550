import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';
import { parseIp } from '@mesh/shared';

/** A minimal TURN client for tests: builds requests with long-term MESSAGE-INTEGRITY, reads answers. */
export interface Answer {
  cls: number;
  code: number | undefined;
  attrs: Map<number, Buffer>;
}

const MAGIC = 0x2112a442;

function attr(type: number, value: Buffer): Buffer {
  const pad = (4 - (value.length % 4)) % 4;
  const out = Buffer.alloc(4 + value.length + pad);
  out.writeUInt16BE(type, 0);
  out.writeUInt16BE(value.length, 2);
  value.copy(out, 4);
  return out;
}

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n, 0);
  return b;
}

export class TurnTestClient {
  private readonly sock: Socket;
  nonce = '';
  realm = '';

  /** `host`: the server's address, 127.0.0.1 or ::1. */
  constructor(
    private readonly port: number, private readonly username: string, private readonly password: string,
    private readonly host = '127.0.0.1',
  ) {
    this.sock = createSocket(isIPv6(host) ? 'udp6' : 'udp4');
  }

  /** CREATE_PERMISSION for one peer address (either family; nothing is sent to the peer), retried after a challenge. */
  async createPermission(ip: string): Promise<Answer> {
    const once = (): Promise<Answer> => {
      const tid = randomBytes(12);
      return this.request(CREATE_PERMISSION, [xorAddress(ip, 0, tid)], true, tid);
    };
    const first = await once();
    return first.code === 401 || first.code === 438 ? once() : first;
  }

  /** `tid`: a transaction id to reuse, to send a retransmission. */
  async request(method: number, attrs: [number, Buffer][], withAuth = true, tid = randomBytes(12)): Promise<Answer> {
    let body = Buffer.concat(attrs.map(([t, v]) => attr(t, v)));
    if (withAuth && this.nonce) {
      body = Buffer.concat([body, attr(0x0006, Buffer.from(this.username)), attr(0x0014, Buffer.from(this.realm)), attr(0x0015, Buffer.from(this.nonce))]);
    }
    const header = Buffer.alloc(20);
    header.writeUInt16BE(method, 0);
    header.writeUInt32BE(MAGIC, 4);
    tid.copy(header, 8);
    let msg = Buffer.concat([header, body]);
    if (withAuth && this.nonce) {
      msg.writeUInt16BE(body.length + 24, 2);
      const key = createHash('md5').update(`${this.username}:${this.realm}:${this.password}`).digest();
      const mi = createHmac('sha1', key).update(msg).digest();
      msg = Buffer.concat([msg, attr(0x0008, mi)]);
    }
    msg.writeUInt16BE(msg.length - 20, 2);
    const answer = await this.exchange(msg, tid);
    const realm = answer.attrs.get(0x0014);
    const nonce = answer.attrs.get(0x0015);
    if (realm) this.realm = realm.toString();
    if (nonce) this.nonce = nonce.toString();
    return answer;
  }

  /** Retries once after a 401/438 challenge, as real clients do. */
  async authed(method: number, attrs: [number, Buffer][]): Promise<Answer> {
    const first = await this.request(method, attrs);
    if (first.code === 401 || first.code === 438) return this.request(method, attrs);
    return first;
  }

  private exchange(msg: Buffer, tid: Buffer): Promise<Answer> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.sock.off('message', onMessage);
        reject(new Error('no answer'));
      }, 2000);
      const onMessage = (buf: Buffer): void => {
        if (buf.length < 20 || !buf.subarray(8, 20).equals(tid)) return;
        clearTimeout(timer);
        this.sock.off('message', onMessage);
        const type = buf.readUInt16BE(0);
        const attrs = new Map<number, Buffer>();
        let off = 20;
        while (off + 4 <= buf.length) {
          const t = buf.readUInt16BE(off);
          const l = buf.readUInt16BE(off + 2);
          attrs.set(t, buf.subarray(off + 4, off + 4 + l));
          off += 4 + l + ((4 - (l % 4)) % 4);
        }
        const err = attrs.get(0x0009);
        resolve({ cls: ((type >> 7) & 2) | ((type >> 4) & 1), code: err ? (err[2] ?? 0) * 100 + (err[3] ?? 0) : undefined, attrs });
      };
      this.sock.on('message', onMessage);
      this.sock.send(msg, this.port, this.host);
    });
  }

  /** Sends ChannelData on a bound channel (RFC 5766 11.4). */
  sendChannel(channel: number, data: Buffer): void {
    const head = Buffer.alloc(4);
    head.writeUInt16BE(channel, 0);
    head.writeUInt16BE(data.length, 2);
    this.sock.send(Buffer.concat([head, data]), this.port, this.host);
  }

  /** Calls `fn` with the payload of every ChannelData message the server sends. */
  onChannelData(fn: (channel: number, data: Buffer) => void): void {
    this.sock.on('message', (buf: Buffer) => {
      if (buf.length < 4 || (buf[0] ?? 0) < 0x40 || (buf[0] ?? 0) > 0x7f) return;
      fn(buf.readUInt16BE(0), buf.subarray(4, 4 + buf.readUInt16BE(2)));
    });
  }

  close(): void {
    this.sock.close();
  }
}

export const CHANNEL_BIND = 0x0009;

export function channelNumber(channel: number): [number, Buffer] {
  const b = Buffer.alloc(4);
  b.writeUInt16BE(channel, 0);
  return [0x000c, b];
}

/** XOR-PEER-ADDRESS of an IPv4 peer. */
export function xorPeerAddress(ip: string, port: number): [number, Buffer] {
  const b = Buffer.alloc(8);
  b[1] = 0x01;
  b.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  const n = ip.split('.').reduce((a, x) => ((a << 8) | Number(x)) >>> 0, 0);
  b.writeUInt32BE((n ^ MAGIC) >>> 0, 4);
  return [0x0012, b];
}

/**
 * XOR-PEER-ADDRESS of a peer of either family: IPv6 is XORed with the magic
 * cookie and the transaction id of the request that carries it (RFC 5389 15.2).
 */
export function xorAddress(ip: string, port: number, tid: Buffer): [number, Buffer] {
  const bytes = parseIp(ip);
  if (!bytes) throw new TypeError(`not an IP: ${ip}`);
  const key = Buffer.alloc(16);
  key.writeUInt32BE(MAGIC, 0);
  tid.copy(key, 4);
  const b = Buffer.alloc(4 + bytes.length);
  b[1] = bytes.length === 4 ? 0x01 : 0x02;
  b.writeUInt16BE(port ^ (MAGIC >>> 16), 2);
  bytes.forEach((x, i) => { b[4 + i] = x ^ (key[i] ?? 0); });
  return [0x0012, b];
}

export const CREATE_PERMISSION = 0x0008;
/** REQUESTED-ADDRESS-FAMILY (RFC 6156) asking for an IPv6 relay. */
export const REQUESTED_IPV6: [number, Buffer] = [0x0017, Buffer.from([0x02, 0, 0, 0])];
export const ALLOCATE = 0x0003;
export const REFRESH = 0x0004;
export const REQUESTED_UDP: [number, Buffer] = [0x0019, Buffer.from([17, 0, 0, 0])];
export const LIFETIME = 0x000d;
export const XOR_RELAYED = 0x0016;

export function xorPort(v: Buffer): number {
  return v.readUInt16BE(2) ^ (MAGIC >>> 16);
}

import { randomFillSync } from 'node:crypto';
import { isIPv4 } from 'node:net';
import { parseIp } from '@mesh/shared';

const MAGIC = 0x2112a442;
const DATA_INDICATION = 0x0017;
const ATTR_XOR_PEER_ADDRESS = 0x0012;
const ATTR_DATA = 0x0013;

/** A ChannelData message (RFC 5766 §11.4): channel 0x4000..0x7FFF, then length, then data. */
export function isChannelData(buf: Buffer): boolean {
  return buf.length >= 4 && ((buf[0] ?? 0) & 0xc0) === 0x40;
}

export function readChannelData(buf: Buffer): { channel: number; data: Buffer } | undefined {
  const channel = buf.readUInt16BE(0);
  const length = buf.readUInt16BE(2);
  if (channel < 0x4000 || channel > 0x7ffe || 4 + length > buf.length) return undefined;
  return { channel, data: buf.subarray(4, 4 + length) };
}

/** ChannelData with padding to 4 bytes (mandatory over TCP, harmless over UDP). */
export function writeChannelData(channel: number, data: Buffer): Buffer {
  const pad = (4 - (data.length % 4)) % 4;
  // Unzeroed (every byte is written below): this runs for every packet relayed to a client.
  const out = Buffer.allocUnsafe(4 + data.length + pad);
  out.writeUInt16BE(channel, 0);
  out.writeUInt16BE(data.length, 2);
  data.copy(out, 4);
  out.fill(0, 4 + data.length);
  return out;
}

/**
 * A Data indication carrying `data` from `peer`. Written directly: node-turn's
 * builder awaits `crypto.randomBytes` and re-concatenates buffers per packet.
 */
export function writeDataIndication(peerAddress: string, peerPort: number, data: Buffer): Buffer {
  const ip = parseIp(peerAddress);
  if (!ip) throw new Error(`not an IP: ${peerAddress}`);
  const v4 = isIPv4(peerAddress) || ip.length === 4;
  const addrLen = v4 ? 8 : 20;
  const pad = (4 - (data.length % 4)) % 4;
  const bodyLen = 4 + addrLen + 4 + data.length + pad;
  const out = Buffer.alloc(20 + bodyLen);
  out.writeUInt16BE(DATA_INDICATION, 0);
  out.writeUInt16BE(bodyLen, 2);
  out.writeUInt32BE(MAGIC, 4);
  randomFillSync(out, 8, 12);
  let off = 20;
  out.writeUInt16BE(ATTR_XOR_PEER_ADDRESS, off);
  out.writeUInt16BE(addrLen, off + 2);
  out[off + 5] = v4 ? 0x01 : 0x02;
  out.writeUInt16BE(peerPort ^ (MAGIC >>> 16), off + 6);
  const key = out.subarray(4, 20); // magic cookie then transaction id
  for (let i = 0; i < ip.length; i++) out[off + 8 + i] = (ip[i] ?? 0) ^ (key[i] ?? 0);
  off += 4 + addrLen;
  out.writeUInt16BE(ATTR_DATA, off);
  out.writeUInt16BE(data.length, off + 2);
  data.copy(out, off + 4);
  return out;
}

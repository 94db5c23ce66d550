import type { Socket } from 'node:dgram';
import { normalizeIp } from '@mesh/shared';
import type { TurnMetrics } from '../metrics.js';
import type { NtAddress, NtTransport } from './modules.js';
import { writeChannelData, writeDataIndication } from './wire.js';

const PERMISSION_MS = 300_000;
/** Bounds per allocation: a client cannot grow our maps without limit. */
export const MAX_PERMISSIONS = 64;
export const MAX_CHANNELS = 64;

/**
 * One TURN allocation. Replaces node-turn's Allocation, whose defects were:
 * expiry removed it from the table but left its relay socket bound; a
 * lifetime-less `update()` (ALLOCATE retransmission) expired it at once; peer
 * data that looked like ChannelData was parsed as such; Data indications
 * waited on an async random source per packet.
 */
export class RelayAllocation {
  readonly permissions = new Map<string, number>();
  readonly channels = new Map<number, { address: string; port: number }>();
  private readonly peerChannel = new Map<string, number>();
  private timer: NodeJS.Timeout | undefined;
  expiresAt = 0;
  /** For node-turn's dispatcher (`msg.allocation`) and the 441 check. */
  readonly user: { username: string };

  constructor(
    readonly fiveTuple: string,
    readonly username: string,
    readonly transactionID: string,
    /** Answers go back through the server socket the client used. */
    private readonly client: NtTransport,
    readonly relay: Socket,
    readonly relayedAddress: NtAddress,
    readonly mappedAddress: NtAddress,
    private readonly metrics: TurnMetrics,
    private readonly onExpire: (a: RelayAllocation) => void,
  ) {
    this.user = { username };
    relay.on('message', (data, rinfo) => this.fromPeer(data, rinfo.address, rinfo.port));
    relay.on('error', () => this.onExpire(this));
  }

  /** Sets the remaining lifetime; the allocation ends (socket closed) when it runs out. */
  refresh(lifetimeSeconds: number): void {
    clearTimeout(this.timer);
    this.expiresAt = Date.now() + lifetimeSeconds * 1000;
    this.timer = setTimeout(() => this.onExpire(this), lifetimeSeconds * 1000);
    this.timer.unref();
  }

  /** False when the permission table is full. */
  permit(ip: string): boolean {
    const key = normalizeIp(ip);
    if (!this.permissions.has(key) && this.permissions.size >= MAX_PERMISSIONS) this.pruneExpired();
    if (!this.permissions.has(key) && this.permissions.size >= MAX_PERMISSIONS) return false;
    this.permissions.set(key, Date.now() + PERMISSION_MS);
    return true;
  }

  permitted(ip: string): boolean {
    // Keys are normalized and normalizing is idempotent: an address the kernel hands us is usually a key
    // already, and parsing it on every relayed packet cost ~5 % of the relay's CPU (bench --cpu-prof).
    return (this.permissions.get(ip) ?? this.permissions.get(normalizeIp(ip)) ?? 0) > Date.now();
  }

  /** RFC 5766 §11.2 rules; returns an error code or 0. */
  bind(channel: number, peer: { address: string; port: number }): number {
    const key = `${normalizeIp(peer.address)}|${peer.port}`;
    const current = this.channels.get(channel);
    const boundTo = this.peerChannel.get(key);
    if (current && `${normalizeIp(current.address)}|${current.port}` !== key) return 400;
    if (boundTo !== undefined && boundTo !== channel) return 400;
    if (!current && this.channels.size >= MAX_CHANNELS) return 508;
    this.channels.set(channel, { address: normalizeIp(peer.address), port: peer.port });
    this.peerChannel.set(key, channel);
    return 0;
  }

  /** Client → peer (Send indication or ChannelData). */
  toPeer(data: Buffer, address: string, port: number): void {
    if (!this.permitted(address)) return;
    this.relay.send(data, port, address);
    this.metrics.relayed('to_peer', data.length);
  }

  private fromPeer(data: Buffer, address: string, port: number): void {
    if (!this.permitted(address)) return;
    const channel = this.peerChannel.get(`${address}|${port}`) ?? this.peerChannel.get(`${normalizeIp(address)}|${port}`);
    const out = channel !== undefined ? writeChannelData(channel, data) : writeDataIndication(address, port, data);
    this.client.socket.send(out, this.client.dst.port, this.client.dst.address);
    this.metrics.relayed('to_client', data.length);
  }

  private pruneExpired(): void {
    const now = Date.now();
    for (const [ip, until] of this.permissions) if (until <= now) this.permissions.delete(ip);
  }

  close(): void {
    clearTimeout(this.timer);
    this.relay.removeAllListeners('message');
    try {
      this.relay.close();
    } catch {
      // already closed
    }
  }
}

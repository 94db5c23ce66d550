import { TURN_MAX_ALLOCATION_LIFETIME_SECONDS } from '@mesh/shared';
import type { TurnMetrics } from '../metrics.js';
import { RelayAllocation } from './allocation.js';
import { Address, CONSTANTS, type NtAddress, type NtMessage } from './modules.js';
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:dgram';
import { bindRelayPair, bindRelaySocket } from './relay-socket.js';

export const DEFAULT_LIFETIME = 600;
export const MAX_LIFETIME = TURN_MAX_ALLOCATION_LIFETIME_SECONDS;

export interface AllocationTable {
  get(fiveTuple: string): RelayAllocation | undefined;
  /** Reason the quota refuses a new allocation of this user, or undefined. */
  quotaExceeded(username: string): boolean;
  add(a: RelayAllocation): void;
  remove(a: RelayAllocation): void;
}

const RESERVATION_MS = 30_000;

/**
 * Ports held for a RESERVATION-TOKEN (EVEN-PORT with the R bit), at most
 * `max`, each released after 30 s. Defect fixed: node-turn looked tokens up
 * in a table it never filled, and could not even parse the attribute.
 */
export function createReservations(max: number) {
  const held = new Map<string, { socket: Socket; timer: NodeJS.Timeout }>();
  return {
    hold(socket: Socket): string | undefined {
      if (held.size >= max) return undefined;
      const token = randomBytes(6).toString('base64url');
      const timer = setTimeout(() => {
        held.delete(token);
        socket.close();
      }, RESERVATION_MS);
      timer.unref();
      held.set(token, { socket, timer });
      return token;
    },
    take(token: string): Socket | undefined {
      const r = held.get(token);
      if (!r) return undefined;
      held.delete(token);
      clearTimeout(r.timer);
      return r.socket;
    },
    clear(): void {
      for (const r of held.values()) {
        clearTimeout(r.timer);
        r.socket.close();
      }
      held.clear();
    },
  };
}

export interface MethodContext {
  reservations: ReturnType<typeof createReservations>;
  table: AllocationTable;
  metrics: TurnMetrics;
  allowedPeer(ip: string): boolean;
  bindHost: string;
  relayIp: string;
  relayMinPort: number;
  relayMaxPort: number;
  software: string;
}

function succeed(reply: NtMessage, ctx: MethodContext): void {
  reply.addAttribute('software', ctx.software);
  reply.addAttribute('message-integrity');
  reply.resolve();
}

/** Defect fixed: the LIFETIME attribute was read as `liftetime` and ignored. */
function grantedLifetime(msg: NtMessage): number {
  const asked = msg.getAttribute('lifetime');
  if (typeof asked !== 'number') return DEFAULT_LIFETIME;
  return Math.max(DEFAULT_LIFETIME, Math.min(asked, MAX_LIFETIME));
}

function isRequest(msg: NtMessage): boolean {
  return msg.class === CONSTANTS.CLASS.REQUEST;
}

/**
 * ALLOCATE. Defects fixed: no quota (checkQuota was a TODO), EVEN-PORT crashed,
 * a retransmission expired the allocation, LIFETIME ignored.
 */
export async function allocate(ctx: MethodContext, msg: NtMessage, reply: NtMessage): Promise<void> {
  if (!isRequest(msg)) return reply.discard();
  // node-turn never sets msg.allocation for ALLOCATE: the table says whether this 5-tuple has one.
  const existing = ctx.table.get(msg.transport.get5Tuple());
  if (existing) return answerExisting(ctx, msg, reply, existing);
  const transport = msg.getAttribute('requested-transport');
  if (transport === undefined) return reply.reject(400, 'Bad Request');
  if (transport !== CONSTANTS.TRANSPORT.PROTOCOL.UDP) return reply.reject(442, 'Unsupported Transport Protocol');
  const token = msg.getAttribute('reservation-token');
  const evenPort = msg.getAttribute('even-port');
  if (token !== undefined && evenPort !== undefined) return reply.reject(400, 'Bad Request');
  const username = msg.user?.username ?? '';
  if (ctx.table.quotaExceeded(username)) {
    ctx.metrics.authFailure('quota');
    return reply.reject(486, 'Allocation Quota Reached');
  }
  let relay: Socket | undefined;
  let reserved: string | undefined;
  try {
    if (Buffer.isBuffer(token)) {
      relay = ctx.reservations.take(token.toString('utf8'));
      if (!relay) return reply.reject(508, 'Insufficient Capacity');
    } else if (evenPort === true) {
      const [even, next] = await bindRelayPair(ctx.bindHost, ctx.relayMinPort, ctx.relayMaxPort);
      relay = even;
      reserved = ctx.reservations.hold(next);
      if (reserved === undefined) next.close();
    } else {
      relay = await bindRelaySocket(ctx.bindHost, ctx.relayMinPort, ctx.relayMaxPort, evenPort === false);
    }
  } catch {
    return reply.reject(508, 'Insufficient Capacity');
  }
  // Another request of this 5-tuple (or this one, retransmitted) may have allocated while we bound.
  const raced = ctx.table.get(msg.transport.get5Tuple());
  if (raced || ctx.table.quotaExceeded(username)) {
    relay.close();
    if (reserved !== undefined) ctx.reservations.take(reserved)?.close();
    return raced ? answerExisting(ctx, msg, reply, raced) : reply.reject(486, 'Allocation Quota Reached');
  }
  const lifetime = grantedLifetime(msg);
  const a = new RelayAllocation(
    msg.transport.get5Tuple(), username, msg.transactionID ?? '', msg.transport.revert(), relay,
    new Address(ctx.relayIp, relay.address().port), msg.transport.src, ctx.metrics, (x) => ctx.table.remove(x),
  );
  a.refresh(lifetime);
  ctx.table.add(a);
  if (reserved !== undefined) reply.addAttribute('reservation-token', reserved);
  answerAllocation(ctx, reply, a, lifetime);
}

/** RFC 5766 6.2: a retransmitted ALLOCATE (same transaction) gets the same success; another is 437. */
function answerExisting(ctx: MethodContext, msg: NtMessage, reply: NtMessage, a: RelayAllocation): void {
  if (a.transactionID !== msg.transactionID) return reply.reject(437, 'Allocation Mismatch');
  answerAllocation(ctx, reply, a, Math.round((a.expiresAt - Date.now()) / 1000));
}

function answerAllocation(ctx: MethodContext, reply: NtMessage, a: RelayAllocation, lifetime: number): void {
  reply.addAttribute('xor-relayed-address', a.relayedAddress);
  reply.addAttribute('lifetime', Math.max(0, lifetime));
  reply.addAttribute('xor-mapped-address', a.mappedAddress);
  succeed(reply, ctx);
}

/**
 * REFRESH. Defect fixed: node-turn read `server.defaultLifetime` and
 * `server.maxAllocateTimeout`, which do not exist, so every refresh deleted
 * the allocation (and left its socket bound).
 */
export function refresh(ctx: MethodContext, msg: NtMessage, reply: NtMessage): void {
  if (!isRequest(msg)) return reply.discard();
  const a = msg.allocation as RelayAllocation;
  const asked = msg.getAttribute('lifetime');
  if (asked === 0) {
    ctx.table.remove(a);
    reply.addAttribute('lifetime', 0);
    return succeed(reply, ctx);
  }
  const lifetime = typeof asked === 'number' ? Math.min(asked, MAX_LIFETIME) : DEFAULT_LIFETIME;
  a.refresh(lifetime);
  reply.addAttribute('lifetime', lifetime);
  succeed(reply, ctx);
}

function peerAddresses(msg: NtMessage): NtAddress[] | undefined {
  const peers = msg.getAttributes('xor-peer-address') as NtAddress[];
  if (peers.length === 0 || peers.some((p) => !p || typeof p.address !== 'string')) return undefined;
  return peers;
}

/** CREATE_PERMISSION. Defect fixed: no peer filtering (relayed into loopback and private networks). */
export function createPermission(ctx: MethodContext, msg: NtMessage, reply: NtMessage): void {
  if (!isRequest(msg)) return reply.discard();
  const peers = peerAddresses(msg);
  if (!peers) return reply.reject(400, 'Bad Request');
  if (peers.some((p) => !ctx.allowedPeer(p.address))) {
    ctx.metrics.authFailure('forbidden_peer');
    return reply.reject(403, 'Forbidden');
  }
  const a = msg.allocation as RelayAllocation;
  if (!peers.every((p) => a.permit(p.address))) return reply.reject(508, 'Insufficient Capacity');
  succeed(reply, ctx);
}

/**
 * CHANNEL_BIND. Defects fixed: the success answer had no MESSAGE-INTEGRITY
 * (clients drop it), the peer was never checked (the 403 branch was `if (0)`).
 */
export function channelBind(ctx: MethodContext, msg: NtMessage, reply: NtMessage): void {
  if (!isRequest(msg)) return reply.discard();
  const channel = msg.getAttribute('channel-number');
  const peers = peerAddresses(msg);
  if (typeof channel !== 'number' || channel < 0x4000 || channel > 0x7ffe || !peers || peers.length !== 1) {
    return reply.reject(400, 'Bad Request');
  }
  const peer = peers[0] as NtAddress;
  if (!ctx.allowedPeer(peer.address)) {
    ctx.metrics.authFailure('forbidden_peer');
    return reply.reject(403, 'Forbidden');
  }
  const a = msg.allocation as RelayAllocation;
  const code = a.bind(channel, peer);
  if (code !== 0) return reply.reject(code, code === 400 ? 'Bad Request' : 'Insufficient Capacity');
  if (!a.permit(peer.address)) return reply.reject(508, 'Insufficient Capacity');
  succeed(reply, ctx);
}

/** SEND indication: relayed only to permitted, allowed peers. */
export function send(ctx: MethodContext, msg: NtMessage): void {
  const peer = msg.getAttribute('xor-peer-address') as NtAddress | undefined;
  const data = msg.getAttribute('data');
  if (!peer || !Buffer.isBuffer(data) || !ctx.allowedPeer(peer.address)) return;
  (msg.allocation as RelayAllocation).toPeer(data, peer.address, peer.port);
}

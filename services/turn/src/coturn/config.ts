import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import {
  TURN_MAX_ALLOCATION_LIFETIME_SECONDS, cidrRange, createCidrMatcher, formatIp, mappedCidr, parseCidr, type Cidr, type TurnConfig,
} from '@mesh/shared';

export interface CoturnConfigInput {
  turn: TurnConfig;
  secret: string;
  /** Private directory (mode 0700) holding the pid file and coturn's unused user db. */
  workDir: string;
  /** Peer ranges coturn must refuse (SPECIAL_PURPOSE_CIDRS and the node's own addresses). */
  deniedCidrs: readonly string[];
  /** This turnserver binary was built with Prometheus support. */
  prometheus: boolean;
}

/** A value written into the config file: a newline would inject options. */
function safe(name: string, value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`coturn config: ${name} contains a control character`);
  return value;
}

/**
 * `a-b` lines for coturn 4.6.1's range matcher (ioa_addr_in_range in
 * src/client/ns_turn_ioaddr.c), which has two traps:
 * - an all-zero bound reads as "unbounded": `::-::` (from `::/128`) matches
 *   every peer, and an IPv6 range starting at `::` (`::/96`) matches every
 *   IPv4 peer too (families compare AF_INET < AF_INET6). A range starting at
 *   the zero address is written as the CIDR blocks that make it up without
 *   it; the zero address alone is dropped (good_peer_addr refuses 0.0.0.0
 *   and `::` itself).
 * - IPv6 bounds compare byte by byte, not as numbers: only CIDR-aligned
 *   ranges mean what they say, so every line stays a CIDR block.
 * coturn does not map `::ffff:a.b.c.d` peers to IPv4: each IPv4 range gets
 * its mapped form as well (deduplicated).
 */
export function coturnRanges(cidrs: readonly string[]): string[] {
  const blocks = new Map<string, Cidr>();
  const add = (c: Cidr): void => { blocks.set(c.text, c); };
  for (const text of cidrs) {
    const c = parseCidr(text);
    add(c);
    if (c.family === 4) add(mappedCidr(c));
  }
  const out: string[] = [];
  for (const c of blocks.values()) {
    const bits = c.family === 4 ? 32 : 128;
    const zeroStart = c.bytes.every((b) => b === 0);
    if (zeroStart && c.prefix === bits) continue;
    if (zeroStart) {
      // ::/p without :: is ::1/128, ::2/127, ..., ::2^(127-p)/(p+1); 0.0.0.0/8 likewise.
      for (let k = bits; k > c.prefix; k--) out.push(cidrRange(hostBitBlock(c.family, bits - k, k)).join('-'));
      continue;
    }
    out.push(cidrRange(c).join('-'));
  }
  return out;
}

/** The block `/prefix` whose network address has only bit `bit` (from the right) set. */
function hostBitBlock(family: 4 | 6, bit: number, prefix: number): Cidr {
  const bytes = new Uint8Array(family === 4 ? 4 : 16);
  bytes[bytes.length - 1 - (bit >> 3)] = 1 << (bit & 7);
  return parseCidr(`${formatIp(bytes)}/${prefix}`);
}

/**
 * The text of coturn's configuration file for our settings: TURN REST
 * credentials only (`use-auth-secret`), no CLI, no TLS/DTLS listeners (a
 * reverse proxy or the operator adds TLS), every special-purpose peer range
 * denied unless allow-listed, quotas and bandwidth cap, line-oriented logs on
 * stdout for the supervisor. Pure: the caller writes it with mode 0600.
 */
export function coturnConfig(input: CoturnConfigInput): string {
  const { turn } = input;
  const lines: string[] = [
    `listening-port=${turn.port}`,
    `min-port=${turn.relayMinPort}`,
    `max-port=${turn.relayMaxPort}`,
    'use-auth-secret',
    `static-auth-secret=${safe('secret', input.secret)}`,
    `realm=${safe('realm', turn.realm)}`,
    'fingerprint',
    'no-cli',
    'no-tls',
    'no-dtls',
    'no-multicast-peers',
    // RFC 6062 TCP relays would make every bought credential a TCP proxy to any host:port; browsers never use them.
    'no-tcp-relay',
    'no-software-attribute',
    'no-rfc5780',
    'stale-nonce=600',
    `max-allocate-lifetime=${TURN_MAX_ALLOCATION_LIFETIME_SECONDS}`,
    `user-quota=${turn.userQuota}`,
    `total-quota=${turn.totalQuota}`,
    'log-file=stdout',
    'simple-log',
    // Session lines ("new", "closed", 401s) feed our metrics; data packets are not logged.
    'verbose',
    `pidfile=${safe('workDir', join(input.workDir, 'turnserver.pid'))}`,
    `userdb=${safe('workDir', join(input.workDir, 'turndb'))}`,
  ];
  if (turn.listenHost !== '0.0.0.0' && turn.listenHost !== '::') {
    lines.push(`listening-ip=${safe('listenHost', turn.listenHost)}`, `relay-ip=${safe('listenHost', turn.listenHost)}`);
  }
  // Behind 1:1 NAT (most clouds) coturn would hand out its private interface address as the relay.
  if (isIPv4(turn.publicHost)) lines.push(`external-ip=${turn.publicHost}`);
  if (turn.maxBps > 0) lines.push(`max-bps=${turn.maxBps}`);
  for (const r of coturnRanges(input.deniedCidrs)) lines.push(`denied-peer-ip=${r}`);
  if (turn.allowedPeers.length > 0) {
    for (const r of coturnRanges(turn.allowedPeers)) lines.push(`allowed-peer-ip=${r}`);
    // coturn refuses loopback before it reads the allow-list; the deny list still covers the rest of loopback.
    const loopback = createCidrMatcher(turn.allowedPeers);
    if (loopback('127.0.0.1') || loopback('::1') || turn.allowedPeers.some((c) => parseCidr(c).text.startsWith('127.'))) {
      lines.push('allow-loopback-peers');
    }
  }
  if (input.prometheus) lines.push('prometheus', `prometheus-port=${turn.promPort}`);
  return `${lines.join('\n')}\n`;
}

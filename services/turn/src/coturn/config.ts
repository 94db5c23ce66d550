import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { cidrRange, createCidrMatcher, parseCidr, type TurnConfig } from '@mesh/shared';

export interface CoturnConfigInput {
  turn: TurnConfig;
  secret: string;
  /** Private directory (mode 0700) holding the pid file and coturn's unused user db. */
  workDir: string;
  /** Peer ranges coturn must refuse (SPECIAL_PURPOSE_CIDRS). */
  deniedCidrs: readonly string[];
  /** This turnserver binary was built with Prometheus support. */
  prometheus: boolean;
}

/** A value written into the config file: a newline would inject options. */
function safe(name: string, value: string): string {
  if (/[\u0000-\u001f\u007f]/.test(value)) throw new Error(`coturn config: ${name} contains a control character`);
  return value;
}

function ranges(cidrs: readonly string[]): string[] {
  return cidrs.map((c) => cidrRange(parseCidr(c)).join('-'));
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
    `max-allocate-lifetime=3600`,
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
  for (const r of ranges(input.deniedCidrs)) lines.push(`denied-peer-ip=${r}`);
  if (turn.allowedPeers.length > 0) {
    for (const r of ranges(turn.allowedPeers)) lines.push(`allowed-peer-ip=${r}`);
    // coturn refuses loopback before it reads the allow-list; the deny list still covers the rest of loopback.
    const loopback = createCidrMatcher(turn.allowedPeers);
    if (loopback('127.0.0.1') || loopback('::1') || turn.allowedPeers.some((c) => parseCidr(c).text.startsWith('127.'))) {
      lines.push('allow-loopback-peers');
    }
  }
  if (input.prometheus) lines.push('prometheus', `prometheus-port=${turn.promPort}`);
  return `${lines.join('\n')}\n`;
}

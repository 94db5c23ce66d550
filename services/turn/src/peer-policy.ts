import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';
import { createCidrMatcher, isSpecialPurposeIp, normalizeIp, parseIp, type TurnConfig } from '@mesh/shared';

/**
 * The node's own addresses as single-host CIDRs: every interface address,
 * the listening IP and TURN_PUBLIC_HOST when it is an IP (coturn's
 * external-ip). A relay must not reach them: they serve the node's own UDP
 * services (the DHT, the TURN port itself) to whoever holds a credential.
 */
export function ownAddressCidrs(
  turn: Pick<TurnConfig, 'listenHost' | 'publicHost'>,
  interfaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const ips = [turn.listenHost, turn.publicHost];
  for (const list of Object.values(interfaces)) for (const i of list ?? []) ips.push(i.address);
  const out = new Set<string>();
  for (const ip of ips) {
    const bytes = parseIp(ip);
    // The wildcard is no host; coturn refuses the zero address by itself.
    if (!bytes || bytes.every((b) => b === 0)) continue;
    const text = normalizeIp(ip);
    out.add(`${text}/${text.includes(':') ? 128 : 32}`);
  }
  return [...out];
}

/**
 * Which peer addresses a relay may reach: never special-purpose ranges
 * (loopback, private, link-local, CGNAT, multicast, ULA, mapped forms) nor
 * the node's own addresses, so a stranger cannot use the relay to reach our
 * internal networks or the node itself, except the ranges an operator lists
 * in TURN_ALLOWED_PEERS for a private test mesh (the allow list wins, as
 * coturn checks its allowed-peer-ip before its denied-peer-ip).
 */
export function createPeerPolicy(allowedPeers: readonly string[], ownCidrs: readonly string[] = []): (ip: string) => boolean {
  const allowed = createCidrMatcher(allowedPeers);
  const own = createCidrMatcher(ownCidrs);
  return (ip) => allowed(ip) || !(isSpecialPurposeIp(ip) || own(ip));
}

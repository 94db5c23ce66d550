import { createCidrMatcher, isSpecialPurposeIp } from '@mesh/shared';

/**
 * Which peer addresses a relay may reach: never special-purpose ranges
 * (loopback, private, link-local, CGNAT, multicast, ULA, mapped forms) so a
 * stranger cannot use the relay to reach our internal networks, except the
 * ranges an operator lists in TURN_ALLOWED_PEERS for a private test mesh.
 */
export function createPeerPolicy(allowedPeers: readonly string[]): (ip: string) => boolean {
  const allowed = createCidrMatcher(allowedPeers);
  return (ip) => allowed(ip) || !isSpecialPurposeIp(ip);
}

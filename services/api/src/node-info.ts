import type { Context } from 'koa';
import {
  encodeHint, getClientIp, hintFromProbe, MESH_HINT_SUBJECT, MESH_PROBER_HEADER,
  type Bus, type NodeInfo, type NodeRuntime,
} from '@mesh/shared';
import { NAV_LINKS, respond } from './respond.js';
import { createTtlCache } from './ttl-cache.js';

export interface ProberHints {
  bus: Bus;
  /** MESH_ALLOW_INSECURE: whether an http:// prober URL counts. */
  allowInsecure: boolean;
}

/** A prober's address is passed on at most once a minute (the dht service would ignore repeats anyway). */
const HINT_REPEAT_MS = 60_000;
const HINTS_REMEMBERED = 4096;

function expiresAt(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

/**
 * `GET /`: the node's identity and current price; for a person, the node's
 * home page. A probe from another mesh node names its prober
 * (`x-mesh-node`): its address goes to the dht service to be verified in
 * turn, so a node that found us is found by us without waiting for our next
 * lookup.
 */
export function createNodeInfoHandler(
  runtime: Pick<NodeRuntime, 'nodeInfo'>, hints: ProberHints,
): (ctx: Context) => Promise<void> {
  const recent = createTtlCache<true>({ maxEntries: HINTS_REMEMBERED, ttlMs: HINT_REPEAT_MS });
  return async (ctx) => {
    const hint = hintFromProbe(ctx.get(MESH_PROBER_HEADER) || undefined, getClientIp(ctx), hints.allowInsecure);
    if (hint !== null) {
      const key = `${hint.host}:${hint.port}`;
      if (recent.get(key) === undefined) {
        recent.set(key, true);
        hints.bus.publish(MESH_HINT_SUBJECT, encodeHint(hint));
      }
    }
    const info: NodeInfo = runtime.nodeInfo();
    respond(ctx, info, () => ({
      title: 'Mesh signaling node',
      intro: 'This server is one node of a decentralized mesh of WebRTC signaling servers. '
        + 'Browsers use it to find each other in rooms, learn their public address, read and write '
        + 'BEP44 items of the BitTorrent DHT, and get STUN/TURN service. Costly requests are paid '
        + 'with proof of work; the price rises with the load, so clients drift to idle nodes.',
      facts: [
        ['Node id', info.id],
        ['Public URL', info.url],
        ['Network (DHT infohash)', info.network],
        ['Price (work)', info.work],
        ['Difficulty (log2 work)', info.difficulty],
        ['Load (0..1)', info.load],
        ['Current token', info.token],
        ['Token valid until', expiresAt(info.expires)],
        ['TURN / STUN', info.turn.length > 0 ? info.turn.join(' ') : 'none'],
        ['Version', info.version],
        ['Protocol', 'mesh node wire protocol v1 (PROTOCOL.md); add ?format=json for machine-readable answers'],
      ],
      links: [
        ...NAV_LINKS.slice(1),
        ['This page as JSON', '/?format=json'],
      ],
    }));
  };
}

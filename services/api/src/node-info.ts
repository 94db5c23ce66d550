import type { Context } from 'koa';
import type { NodeInfo, NodeRuntime } from '@mesh/shared';
import { NAV_LINKS, respond } from './respond.js';

function expiresAt(unixSeconds: number): string {
  return new Date(unixSeconds * 1000).toISOString();
}

/** `GET /`: the node's identity and current price; for a person, the node's home page. */
export function createNodeInfoHandler(runtime: Pick<NodeRuntime, 'nodeInfo'>): (ctx: Context) => Promise<void> {
  return async (ctx) => {
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

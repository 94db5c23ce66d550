import type { Context } from 'koa';
import { getClientIp } from '@mesh/shared';
import { NAV_LINKS, respond } from './respond.js';

/**
 * `GET /ip`: the client's address as the shared client-ip layer resolved it
 * (socket peer, or X-Forwarded-For from a trusted proxy; IPv4-mapped IPv6
 * shown as IPv4).
 */
export async function ipHandler(ctx: Context): Promise<void> {
  const ip = getClientIp(ctx);
  respond(ctx, { ip }, () => ({
    title: 'Your IP address',
    intro: 'The address this node sees your request coming from.',
    facts: [['IP', ip]],
    links: NAV_LINKS,
  }));
}

import type { Context } from 'koa';
import { renderPage, wantsJson, type PageContent } from '@mesh/shared';

/**
 * Answers with `json` or, for a person's browser, the same facts as a small
 * HTML page (PROTOCOL.md "Format"). Answers carry live prices and one-time
 * credentials: never cached.
 */
export function respond(ctx: Context, json: unknown, page: () => PageContent, status = 200): void {
  ctx.status = status;
  ctx.set('Cache-Control', 'no-store');
  if (wantsJson(ctx)) {
    ctx.body = json;
    return;
  }
  ctx.type = 'html';
  ctx.body = renderPage(page());
}

/** Links every page offers, so a person can walk the node's endpoints. */
export const NAV_LINKS: ReadonlyArray<readonly [string, string]> = [
  ['Node home', '/'],
  ['Mesh nodes', '/nodes'],
  ['Your IP address', '/ip'],
  ['Client demo', '/demo'],
];

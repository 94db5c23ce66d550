import { readdir, readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, extname, join } from 'node:path';
import type { Middleware } from 'koa';
import { ProtocolError, setRouteLabel, type Logger } from '@mesh/shared';

/** One file of the demo bundle, held in memory (the bundle is a few hundred KB). */
interface DemoFile {
  body: Buffer;
  type: string;
}

/** Only these kinds of files are served; anything else in the directory is ignored. */
const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
};

/** A bundle file larger than this is not served (the built ones are < 200 KB). */
const MAX_FILE_BYTES = 4 * 1024 * 1024;
const MAX_FILES = 64;
/** Short: a rebuilt bundle reaches browsers within a minute. */
const CACHE_CONTROL = 'public, max-age=60';
const MISSING_MESSAGE = 'The demo bundle is not built: run `make build` on this node.';

/**
 * Where `npm run build:browser -w @mesh/sigmesh` writes the bundle: resolved from
 * the package's package.json through Node's resolver, so it works from
 * services/api/dist at run time and from src under jest alike.
 */
export function locateDemoBundle(): string | null {
  try {
    const pkg = createRequire(import.meta.url).resolve('@mesh/sigmesh/package.json');
    return join(dirname(pkg), 'dist', 'browser');
  } catch {
    return null;
  }
}

/**
 * Reads the bundle directory once: the allow-list of served names is exactly its
 * regular files with a known extension, so no request path can reach anything else.
 * Returns null when the directory or its index.html is missing.
 */
export async function loadDemoBundle(dir: string): Promise<Map<string, DemoFile> | null> {
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return null;
  }
  const files = new Map<string, DemoFile>();
  for (const name of names.sort()) {
    const type = CONTENT_TYPES[extname(name)];
    if (type === undefined || files.size >= MAX_FILES) continue;
    const path = join(dir, name);
    const st = await stat(path).catch(() => null);
    if (!st?.isFile() || st.size > MAX_FILE_BYTES) continue;
    files.set(name, { body: await readFile(path), type });
  }
  return files.has('index.html') ? files : null;
}

export interface DemoRoutes {
  routes: Middleware;
  /** Reads the bundle (again); until then, and when it is missing, /demo answers 503. */
  load(): Promise<void>;
}

/**
 * `GET /demo` → `/demo/`; `/demo/` → index.html; `/demo/<name>` → that bundle file.
 * Names are compared as sent (no decoding, no normalising): `..`, `%2e`, `/` and
 * anything not in the allow-list are 404.
 */
export function createDemoRoutes(opts: { dir: string | null; log: Logger }): DemoRoutes {
  const log = opts.log.child({ component: 'demo' });
  let files: Map<string, DemoFile> | null = null;

  const routes: Middleware = async (ctx, next) => {
    const path = ctx.path;
    if (path !== '/demo' && !path.startsWith('/demo/')) return next();
    setRouteLabel(ctx, path === '/demo' ? '/demo' : '/demo/:file');
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    if (path === '/demo') {
      // Relative to /demo/, so the page's `./demo.js` resolves; the query (e.g. ?seeds=) is kept.
      ctx.redirect(`/demo/${ctx.querystring ? `?${ctx.querystring}` : ''}`);
      return;
    }
    if (files === null) throw new ProtocolError('unavailable', MISSING_MESSAGE);
    const name = path === '/demo/' ? 'index.html' : path.slice('/demo/'.length);
    const file = files.get(name);
    if (file === undefined) throw new ProtocolError('not_found');
    ctx.status = 200;
    ctx.set('Cache-Control', CACHE_CONTROL);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.type = file.type;
    ctx.body = file.body;
  };

  return {
    routes,
    async load() {
      files = opts.dir === null ? null : await loadDemoBundle(opts.dir);
      if (files === null) log.warn({ dir: opts.dir }, 'demo bundle not found; /demo answers 503 until `make build`');
      else log.debug({ dir: opts.dir, files: [...files.keys()] }, 'demo bundle loaded');
    },
  };
}

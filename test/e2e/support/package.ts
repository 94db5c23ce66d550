import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * sigmesh as its users get it: `npm pack` of libs/sigmesh (built by `make build`),
 * installed offline into a scratch project, and a plain static file server for the
 * pages of browser consumers (another origin than the node's).
 */

const run = promisify(execFile);
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const SIGMESH_DIR = join(REPO_ROOT, 'libs/sigmesh');
/** The repo's own tools, run from the scratch projects (which have none installed). */
export const TSC = join(REPO_ROOT, 'node_modules/.bin/tsc');

/** The environment of npm and node children: the runner's NODE_OPTIONS (jest's VM flag) stays out. */
export function childEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  delete env['NODE_OPTIONS'];
  return env;
}

export interface PackedFile { path: string; size: number }
export interface Packed { tarball: string; files: PackedFile[] }

/**
 * `npm pack` without lifecycle scripts (its `prepack` would rebuild under a running
 * test suite): the tarball holds what `make build` left in dist.
 */
export async function packSigmesh(destDir: string): Promise<Packed> {
  for (const f of ['dist/index.js', 'dist/index.d.ts', 'dist/solver-worker.js', 'dist/browser/sigmesh.js']) {
    if (!existsSync(join(SIGMESH_DIR, f))) throw new Error(`libs/sigmesh/${f} is missing: run \`make build\` first`);
  }
  const { stdout } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', destDir], { cwd: SIGMESH_DIR, env: childEnv() });
  const [info] = JSON.parse(stdout) as { filename: string; files: PackedFile[] }[];
  if (!info) throw new Error(`npm pack printed no package: ${stdout}`);
  return { tarball: join(destDir, info.filename), files: info.files };
}

/** A scratch project in `dir` with the tarball installed the way the README says (no registry). */
export async function installConsumer(dir: string, tarball: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, 'package.json'), JSON.stringify({ name: 'scratch-consumer', private: true, type: 'module' }, null, 2));
  await run('npm', ['install', '--offline', '--no-audit', '--no-fund', tarball], { cwd: dir, env: childEnv() });
}

export async function runIn(dir: string, command: string, args: string[], timeoutMs = 60_000): Promise<{ stdout: string; stderr: string }> {
  try {
    return await run(command, args, { cwd: dir, env: childEnv(), timeout: timeoutMs });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${e.message}\nstdout:\n${e.stdout ?? ''}\nstderr:\n${e.stderr ?? ''}`, { cause: err });
  }
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.map': 'application/json',
};

export interface StaticServer { url: string; close(): Promise<void> }

/** Serves the files of `dir` (no listing, no CORS) on a loopback port: a site of its own origin. */
export async function serveDir(dir: string): Promise<StaticServer> {
  const server: Server = createServer((req, res) => {
    const path = normalize(decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname)).replace(/^\/+/, '');
    const file = join(dir, path === '' ? 'index.html' : path);
    if (!file.startsWith(dir) || path.includes('..')) { res.writeHead(404).end(); return; }
    readFile(file).then(
      (body) => res.writeHead(200, { 'Content-Type': TYPES[extname(file)] ?? 'application/octet-stream', 'Cache-Control': 'no-store' }).end(body),
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return {
    url: `http://127.0.0.1:${addr.port}`,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

import { request } from 'node:http';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PATH_ENV, waitFor, type Bed, type ChildHandle } from '@mesh/shared/testing';

/**
 * The test's hands inside a bed: processes started in a host that the test
 * (outside every namespace) drives over a Unix socket, since the
 * filesystem is shared and the network is not.
 */

const HERE = fileURLToPath(new URL('.', import.meta.url));
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** A script of this folder. */
export function bedScript(name: string): string {
  return join(HERE, name);
}

/** One JSON request to a helper process listening on a Unix socket. */
export function unixRequest<T>(socketPath: string, method: string, path: string, body?: string): Promise<T> {
  return new Promise((resolve, reject) => {
    // agent: false: a pooled socket the helper closed while idle (keep-alive timeout) would fail the next request.
    const req = request({ socketPath, method, path, agent: false, headers: { 'content-type': 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        try {
          resolve(JSON.parse(Buffer.concat(chunks).toString('utf8')) as T);
        } catch (err) {
          reject(err instanceof Error ? err : new Error(String(err)));
        }
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function waitForLine(child: ChildHandle, text: string, timeoutMs: number): Promise<void> {
  await waitFor(() => {
    if (!child.isRunning()) throw new Error(`${child.name} exited: ${child.output().slice(-2000)}`);
    return child.output().includes(text);
  }, { timeoutMs, intervalMs: 50, message: `${child.name} printed ${text}` });
}

export type AgentAnswer = { status: number; body: unknown; error?: undefined } | { error: string };
export interface FetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}
export type AgentFetch = (url: string, init?: FetchInit) => Promise<AgentAnswer>;

/** Starts `agent-server.mjs` in `host`, listening on `<dir>/agent-<host>.sock`; resolves once it listens. */
export async function startAgent(bed: Bed, host: string, dir: string): Promise<AgentFetch> {
  const socket = join(dir, `agent-${host}.sock`);
  const child = bed.spawn(host, {
    name: `agent-${host}`, command: process.execPath, args: [bedScript('agent-server.mjs'), socket], env: { PATH: PATH_ENV }, cwd: REPO_ROOT,
  });
  await waitForLine(child, 'ready', 10_000);
  return async (url, init = {}) => {
    try {
      return await unixRequest<AgentAnswer>(socket, 'POST', '/', JSON.stringify({ url, ...init }));
    } catch (err) {
      return { error: String(err) };
    }
  };
}

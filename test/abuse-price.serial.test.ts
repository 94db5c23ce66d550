/**
 * Issue 13, "Free requests raise the price" and "A fresh node is priced as if
 * loaded": the built embedded node as its own process (its cpu is then its
 * own, not this test runner's), on production defaults except its ports,
 * loopback and no DHT routers or TURN.
 *
 * - Its first answer quotes within 1.5x POW_BASE_WORK (start-up cpu once
 *   priced it at ~50x).
 * - One address flooding `GET /` from 50 keep-alive connections gets at most
 *   the burst plus the rate, 429 `rate_limited` with Retry-After for the rest,
 *   and the node's cpu over the flood stays under LOAD_NOISE_FLOOR, the share
 *   below which cpu is not load: the price cannot move (it once went from 35k
 *   to 175k).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { parseConfig } from '@mesh/shared';
import { freePort, spawnChild, waitFor, type ChildHandle } from '@mesh/shared/testing';
import { REPO_ROOT } from './support/topology/topology.js';

const ENTRY = join(REPO_ROOT, 'apps', 'embedded', 'dist', 'main.js');
const DEFAULTS = parseConfig({ PUBLIC_URL: 'http://127.0.0.1:1' });
const BASE = DEFAULTS.pow.baseWork;

interface Node {
  child: ChildHandle;
  url: string;
  port: number;
}

async function startNode(): Promise<Node> {
  if (!existsSync(ENTRY)) throw new Error(`${ENTRY} is missing: build first (npx tsc -b tsconfig.build.json)`);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = spawnChild({
    name: 'embedded',
    command: process.execPath,
    args: [ENTRY],
    cwd: REPO_ROOT,
    env: {
      PATH: '/usr/local/bin:/usr/bin:/bin',
      PORT: String(port), HOST: '127.0.0.1', PUBLIC_URL: url,
      METRICS_PORT: String(await freePort()), DHT_PORT: String(await freePort()), DHT_HOST: '127.0.0.1',
      DHT_BOOTSTRAP: 'none', TURN_BACKEND: 'none', LOG_LEVEL: 'warn',
    },
  });
  return { child, url, port };
}

/** The node's first successful `GET /` (JSON): nothing asked it anything before. */
async function firstQuote(node: Node): Promise<{ work: number }> {
  let info: { work: number } | undefined;
  await waitFor(async () => {
    if (!node.child.isRunning()) throw new Error(`node exited:\n${node.child.output()}`);
    try {
      const res = await fetch(`${node.url}/`, { headers: { Accept: 'application/json' }, signal: AbortSignal.timeout(2000) });
      info = (await res.json()) as { work: number };
      return true;
    } catch {
      return false; // not listening yet
    }
  }, { timeoutMs: 20_000, intervalMs: 20, message: 'the node answers GET /' });
  if (info === undefined) throw new Error('unreachable');
  return info;
}

/** utime + stime of a process, in seconds (Linux /proc). */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14 and 15 of proc(5), counted from after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

interface Answer {
  status: number;
  retryAfter: string | undefined;
  body: string;
}

function get(agent: Agent | undefined, port: number, localAddress = '127.0.0.1'): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const opts = { host: '127.0.0.1', port, path: '/', localAddress, headers: { Accept: 'application/json' } };
    const req = request(agent === undefined ? opts : { ...opts, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => { body += d; });
      res.on('end', () => {
        const ra = res.headers['retry-after'];
        resolve({ status: res.statusCode ?? 0, retryAfter: typeof ra === 'string' ? ra : undefined, body });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

let node: Node | undefined;

beforeAll(async () => {
  node = await startNode();
});

afterAll(async () => {
  await node?.child.stop();
});

describe('a fresh node and a flooding address, on production defaults', () => {
  test('the first answer quotes within 1.5x POW_BASE_WORK', async () => {
    if (node === undefined) throw new Error('node did not start');
    const { work } = await firstQuote(node);
    expect(work).toBeLessThanOrEqual(1.5 * BASE);
  });

  test('one address flooding GET / is limited before any work, and its cpu stays below what the price counts', async () => {
    if (node === undefined) throw new Error('node did not start');
    const { port } = node;
    const { perSecond, burst } = DEFAULTS.rateLimit;
    const connections = 50;
    const agent = new Agent({ keepAlive: true, maxSockets: connections });
    const answers: Answer[] = [];
    const cores = availableParallelism();
    // The node's own idle cpu (timers, GC, a busy host) over the same span: the floor is there for it.
    const idle0 = cpuSeconds(node.child.pid);
    await new Promise((r) => setTimeout(r, 5000));
    const idleShare = (cpuSeconds(node.child.pid) - idle0) / (5 * cores);
    const cpu0 = cpuSeconds(node.child.pid);
    const t0 = performance.now();
    // An attacker that ignores Retry-After: every connection asks again at once, for 5 s.
    const endAt = t0 + 5000;
    await Promise.all(Array.from({ length: connections }, async () => {
      while (performance.now() < endAt) answers.push(await get(agent, port));
    }));
    const seconds = (performance.now() - t0) / 1000;
    const cpu = cpuSeconds(node.child.pid) - cpu0;
    agent.destroy();

    const ok = answers.filter((a) => a.status === 200).length;
    const limited = answers.filter((a) => a.status === 429);
    expect(ok + limited.length).toBe(answers.length);
    expect(ok).toBeLessThanOrEqual(burst + Math.ceil(perSecond * seconds) + 1);
    expect(limited.length).toBeGreaterThan(0);
    expect(limited[0]?.retryAfter).toBe(String(DEFAULTS.rateLimit.holdMs / 1000));
    expect(JSON.parse(limited[0]?.body ?? '{}')).toMatchObject({ error: 'rate_limited', retryAfter: DEFAULTS.rateLimit.holdMs / 1000 });
    // The price counts cpu above LOAD_NOISE_FLOOR: what the flood adds to the idle
    // node's own cpu stays under it (measured here: 0.6-1.6 % of the cores; before
    // the limit every request was answered, about 0.3 ms of cpu each, 10 % and more).
    const floodShare = cpu / (seconds * cores);
    expect(floodShare - idleShare).toBeLessThan(DEFAULTS.loadNoiseFloor);

    // Another address is not limited by the first one's flood.
    expect((await get(undefined, port, '127.0.0.2')).status).toBe(200);
  });
});

/**
 * API benchmark: requests/s of `GET /` and of PoW-paid `POST /token` at the
 * base price, against one API process (a child of this one, so server and
 * load generator do not share a thread), on the embedded wiring (memory
 * store, in-process bus) and on the machine's Redis + NATS when they answer.
 * Proofs are solved before the clock starts (their solve rate is reported
 * apart): the timed part is what the server does per request, including
 * the proof check and the shared replay guard. The bench uses
 * POW_BASE_WORK=16 (token price 256) so that pre-solving stays quick; the
 * server's check costs one hash whatever the work. POW_LOAD_FACTOR=0 keeps
 * the price at its base while the bench loads the machine.
 * `--quick` shortens every measurement. Prints a table and one JSON line.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { Agent, request } from 'node:http';
import { launch, solveProof } from '@mesh/shared';
import { MACHINE_NATS_URL, MACHINE_REDIS_URL, deleteRedisKeys, uniquePrefix } from '@mesh/shared/testing';
import { apiNode } from '@mesh/api';

const quick = process.argv.includes('--quick');
const scale = quick ? 0.1 : 1;
const CONCURRENCY = 32;
const BASE_WORK = 16;
const TOKEN_WORK = BASE_WORK * 16;

const SERVER_ENV: Record<string, string> = {
  HOST: '127.0.0.1', PORT: '0', METRICS_HOST: '127.0.0.1', METRICS_PORT: '0',
  POW_BASE_WORK: String(BASE_WORK), POW_LOAD_FACTOR: '0', LOG_LEVEL: 'silent',
  NODE_SECRET: 'bench-node-secret-0123456789', TURN_SECRET: 'bench-turn-secret-0123456789',
  TURN_BACKEND: 'node-turn', PUBLIC_URL: 'https://bench.example',
  // The load comes from 127.0.0.1 alone: the per-address rate limit is off (0) for the bench,
  // and the per-address TURN credential cap is lifted (it buys thousands of tokens).
  RATE_LIMIT_PER_SECOND: '0',
  TURN_CREDENTIALS_PER_CLIENT: '1000000',
};

type ServerMessage = { port: number } | { error: string };

/** Child side: one API process as main.ts starts it, until the parent says stop. */
async function serve(env: Record<string, string>): Promise<void> {
  try {
    const node = await launch(apiNode, env);
    process.send?.({ port: node.port ?? 0 } satisfies ServerMessage);
    process.on('message', () => {
      void node.stop().then(() => process.exit(0));
    });
  } catch (e) {
    process.send?.({ error: (e as Error).message } satisfies ServerMessage);
    process.exit(1);
  }
}

async function startServer(env: Record<string, string>): Promise<{ port: number; child: ChildProcess }> {
  const child = fork(process.argv[1] ?? '', ['--serve', JSON.stringify(env)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const msg = await new Promise<ServerMessage>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error('the API process did not start within 15 s')), 15_000);
    child.once('message', (m) => { clearTimeout(timer); resolve(m as ServerMessage); });
    child.once('exit', (code) => { clearTimeout(timer); reject(new Error(`the API process exited (${code})`)); });
  });
  if ('error' in msg) throw new Error(msg.error);
  return { port: msg.port, child };
}

async function stopServer(child: ChildProcess): Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.send('stop');
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(timer);
}

function send(agent: Agent, port: number, method: string, path: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method, path, headers, agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Sends `n` requests, CONCURRENCY in flight; every answer must be 200. Returns requests/s. */
async function rate(port: number, n: number, make: (i: number) => { method: string; path: string; headers: Record<string, string> }): Promise<{ perSecond: number; seconds: number }> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY });
  let next = 0;
  const refused: string[] = [];
  const t0 = process.hrtime.bigint();
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < n) {
      const r = make(next++);
      const res = await send(agent, port, r.method, r.path, r.headers);
      if (res.status !== 200 && refused.length < 3) refused.push(`${res.status} ${res.body.slice(0, 200)}`);
    }
  }));
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  agent.destroy();
  if (refused.length > 0) throw new Error(`requests refused: ${refused.join(' | ')}`);
  return { perSecond: n / seconds, seconds };
}

interface Row { name: string; count: number; seconds: number; unit: string }

async function measure(label: string, env: Record<string, string>, rows: Row[]): Promise<Record<string, number>> {
  const { port, child } = await startServer(env);
  try {
    const agent = new Agent({ keepAlive: true });
    const info = JSON.parse((await send(agent, port, 'GET', '/', { Accept: 'application/json' })).body) as { token: string };
    agent.destroy();

    const nGet = Math.round(20_000 * scale);
    await rate(port, Math.round(nGet / 10), () => ({ method: 'GET', path: '/', headers: { Accept: 'application/json' } })); // warm-up
    const get = await rate(port, nGet, () => ({ method: 'GET', path: '/', headers: { Accept: 'application/json' } }));
    rows.push({ name: `${label}: GET /`, count: nGet, seconds: get.seconds, unit: 'requests' });

    const nToken = Math.round(5_000 * scale);
    const s0 = process.hrtime.bigint();
    const proofs = Array.from({ length: nToken }, () => solveProof({ token: info.token, work: TOKEN_WORK, method: 'POST', path: '/token' }).header);
    const solveSeconds = Number(process.hrtime.bigint() - s0) / 1e9;
    rows.push({ name: `${label}: solve /token proofs (client)`, count: nToken, seconds: solveSeconds, unit: 'proofs' });
    const token = await rate(port, nToken, (i) => ({
      method: 'POST', path: '/token', headers: { Accept: 'application/json', 'X-PoW': proofs[i] ?? '', 'Content-Length': '0' },
    }));
    rows.push({ name: `${label}: POST /token (paid)`, count: nToken, seconds: token.seconds, unit: 'requests' });
    return { get_root_per_s: Math.round(get.perSecond), post_token_per_s: Math.round(token.perSecond) };
  } finally {
    await stopServer(child);
  }
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const result: Record<string, unknown> = { bench: 'api', quick: String(quick), concurrency: CONCURRENCY, token_work: TOKEN_WORK };
  result['embedded'] = await measure('embedded', SERVER_ENV, rows);

  const prefix = uniquePrefix('apibench');
  try {
    result['nats_redis'] = await measure('nats+redis', {
      ...SERVER_ENV, NATS_URL: MACHINE_NATS_URL, REDIS_URL: MACHINE_REDIS_URL, STORE_PREFIX: `${prefix}:`, BUS_PREFIX: prefix,
    }, rows);
  } catch (e) {
    console.error(`nats+redis part skipped: ${(e as Error).message}`);
    result['nats_redis'] = null;
  } finally {
    await deleteRedisKeys(MACHINE_REDIS_URL, `${prefix}:`).catch(() => 0);
  }

  console.log('API benchmark' + (quick ? ' (quick)' : '') + `, ${CONCURRENCY} requests in flight, keep-alive`);
  console.log('  measurement                                   count     seconds        per second');
  for (const r of rows) {
    console.log(`  ${r.name.padEnd(42)}${String(r.count).padStart(8)}${r.seconds.toFixed(3).padStart(12)}${Math.round(r.count / r.seconds).toLocaleString('en').padStart(14)} ${r.unit}/s`);
  }
  console.log(JSON.stringify(result));
}

const serveAt = process.argv.indexOf('--serve');
if (serveAt >= 0) {
  void serve(JSON.parse(process.argv[serveAt + 1] ?? '{}') as Record<string, string>);
} else {
  main().catch((e: unknown) => {
    console.error(e);
    process.exitCode = 1;
  });
}

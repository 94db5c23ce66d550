import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.js';

/** A private server process for one test file. */
export interface TestServer {
  /** `nats://127.0.0.1:<port>` or `redis://127.0.0.1:<port>`. */
  readonly url: string;
  readonly port: number;
  /** Terminates the process (SIGTERM, SIGKILL after 3 s) and removes its temp dir; idempotent. */
  stop(): Promise<void>;
  /** Stops if running, then starts a fresh process on the same port and awaits readiness. */
  restart(): Promise<void>;
}

const NATS_BIN = '/usr/sbin/nats-server';
const REDIS_BIN = '/usr/bin/redis-server';
const READY_TIMEOUT_MS = 10_000;

/** Children still alive at exit are killed, so a crashed test never leaks servers. */
const alive = new Set<ChildProcess>();
let exitHook = false;
function track(child: ChildProcess): void {
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  if (!exitHook) {
    exitHook = true;
    process.once('exit', () => {
      for (const c of alive) c.kill('SIGKILL');
    });
  }
}

/**
 * Resolves once a TCP client gets the expected greeting or reply: readiness
 * by talking to the server, never by sleeping.
 */
function probe(port: number, send: string | undefined, expect: string): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = connect({ host: '127.0.0.1', port });
    let buf = '';
    const done = (ok: boolean): void => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.once('error', () => done(false));
    sock.once('connect', () => {
      if (send !== undefined) sock.write(send);
    });
    sock.on('data', (d: Buffer) => {
      buf += d.toString('latin1');
      if (buf.includes(expect)) done(true);
      else if (buf.length > 4096) done(false);
    });
  });
}

interface Spec {
  kind: string;
  scheme: string;
  bin: string;
  args(port: number, dir: string): string[];
  probe(port: number): Promise<boolean>;
}

async function startServer(spec: Spec, port: number): Promise<TestServer> {
  let child: ChildProcess | undefined;
  let dir: string | undefined;

  async function launch(): Promise<void> {
    dir = mkdtempSync(join(tmpdir(), `mesh-${spec.kind}-`));
    const c = spawn(spec.bin, spec.args(port, dir), { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    track(c);
    let stderr = '';
    c.stderr?.on('data', (d: Buffer) => {
      stderr = (stderr + d.toString('utf8')).slice(-4096);
    });
    let exited = false;
    c.once('exit', () => {
      exited = true;
    });
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (exited) throw new Error(`${spec.kind} on port ${port} exited at start: ${stderr.trim()}`);
      if (await spec.probe(port)) return;
      if (Date.now() > deadline) {
        await halt();
        throw new Error(`${spec.kind} on port ${port} not ready after ${READY_TIMEOUT_MS} ms: ${stderr.trim()}`);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  }

  async function halt(): Promise<void> {
    const c = child;
    child = undefined;
    if (c !== undefined && c.exitCode === null && c.signalCode === null) {
      const exited = new Promise<void>((r) => c.once('exit', () => r()));
      c.kill('SIGTERM');
      const force = setTimeout(() => c.kill('SIGKILL'), 3000);
      await exited;
      clearTimeout(force);
    }
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    dir = undefined;
  }

  await launch();
  return {
    url: `${spec.scheme}://127.0.0.1:${port}`,
    port,
    stop: halt,
    async restart() {
      await halt();
      await launch();
    },
  };
}

/**
 * A private nats-server on 127.0.0.1 (a spare port unless given), with
 * JetStream in a temp dir when `jetstream` is set.
 */
export async function startNatsServer(opts: { port?: number; jetstream?: boolean } = {}): Promise<TestServer> {
  const port = opts.port ?? await freePort();
  return startServer({
    kind: 'nats-server',
    scheme: 'nats',
    bin: NATS_BIN,
    args: (p, dir) => ['-a', '127.0.0.1', '-p', String(p), ...(opts.jetstream ? ['-js', '-sd', dir] : [])],
    probe: (p) => probe(p, undefined, 'INFO '),
  }, port);
}

/** A private redis-server on 127.0.0.1 (a spare port unless given), without persistence. */
export async function startRedisServer(opts: { port?: number } = {}): Promise<TestServer> {
  const port = opts.port ?? await freePort();
  return startServer({
    kind: 'redis-server',
    scheme: 'redis',
    bin: REDIS_BIN,
    args: (p, dir) => [
      '--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
      '--dir', dir, '--daemonize', 'no', '--logfile', '',
    ],
    probe: (p) => probe(p, 'PING\r\n', '+PONG'),
  }, port);
}

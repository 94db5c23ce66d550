/**
 * TURN relay benchmark: coturn's own client (turnutils_uclient, channel mode)
 * through each target to a turnutils_peer echo on loopback, at 10 and 100
 * concurrent sessions. Targets: our turn service with the node-turn backend,
 * the same service with the coturn backend (real entry point,
 * services/turn/dist/main.js, built by `make bench`), and a bare coturn
 * started by hand. Reports relayed throughput (echoed bytes / wall time) and
 * loss, and both as a ratio to bare coturn; then one JSON line.
 *
 * `--quick` sends fewer messages. Bounded: every run has a timeout.
 */
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createSocket } from 'node:dgram';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { turnCredentials } from '@mesh/shared';
import { stopChild } from './lib/spawn.js';

const quick = process.argv.includes('--quick');
// Quick (CI smoke) runs one size: each turnutils_uclient run takes ~5 s whatever its size.
const SESSIONS = quick ? [10] : [10, 100];
const MESSAGES = quick ? 50 : 1000;
const LENGTH = 1000;
const INTERVAL_MS = quick ? 5 : 1;
const SECRET = 'bench-turn-secret-0123456789';
/** A healthy target answers STUN within a second or two; one that does not is retried on other ports. */
const START_TIMEOUT_MS = 10_000;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Target {
  name: string;
  start(port: number, relayMin: number): Promise<() => Promise<void>>;
}

interface Row {
  target: string;
  sessions: number;
  sent: number;
  received: number;
  lossPercent: number;
  mbPerSecond: number;
}

function freeUdpPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createSocket('udp4');
    s.once('error', reject);
    s.bind(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function waitForStun(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      execFile('turnutils_stunclient', ['-p', String(port), '127.0.0.1'], { timeout: 2000 }, (err, out) => {
        resolve(!err && /reflexive addr/.test(out));
      });
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing answers STUN on ${port}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}


function ourService(backend: 'node-turn' | 'coturn'): Target {
  return {
    name: `service/${backend}`,
    async start(port, relayMin) {
      const child = spawn(process.execPath, [join(root, 'services/turn/dist/main.js')], {
        stdio: ['ignore', 'ignore', 'pipe'],
        env: {
          PATH: process.env.PATH ?? '', TURN_BACKEND: backend, TURN_PORT: String(port), TURN_LISTEN_HOST: '127.0.0.1',
          TURN_SECRET: SECRET, TURN_ALLOWED_PEERS: '127.0.0.1/32', TURN_RELAY_MIN_PORT: String(relayMin),
          TURN_RELAY_MAX_PORT: String(relayMin + 999), TURN_USER_QUOTA: '1000', TURN_TOTAL_QUOTA: '1000',
          // Port 0: the ops server is TCP, and a port free for UDP may not be (EADDRINUSE seen in CI).
          METRICS_PORT: '0', LOG_LEVEL: 'warn', PORT: '0',
        },
      });
      let stderr = '';
      child.stderr?.on('data', (d: Buffer) => { stderr = (stderr + d.toString()).slice(-2000); });
      const exited = new Promise<string>((resolve) => child.once('exit', (code, signal) => resolve(`exited (${code ?? signal})`)));
      // A target that never answers must not outlive the run (it holds the relay ports).
      await Promise.race([waitForStun(port, START_TIMEOUT_MS), exited.then((how) => { throw new Error(how); })]).catch(async (err: unknown) => {
        await stopChild(child, 5000);
        throw new Error(`${err instanceof Error ? err.message : String(err)}; its stderr: ${stderr || '(empty)'}`);
      });
      return () => stopChild(child, 5000);
    },
  };
}

const bareCoturn: Target = {
  name: 'bare coturn',
  async start(port, relayMin) {
    const dir = mkdtempSync(join(tmpdir(), 'bench-coturn-'));
    const child = spawn('turnserver', [
      '-n', '--listening-ip', '127.0.0.1', '--relay-ip', '127.0.0.1', '--listening-port', String(port),
      '--min-port', String(relayMin), '--max-port', String(relayMin + 999), '--use-auth-secret',
      '--static-auth-secret', SECRET, '--realm', 'bench', '--allow-loopback-peers', '--no-cli', '--no-tls', '--no-dtls',
      '--userdb', join(dir, 'db'), '--pidfile', join(dir, 'pid'), '--no-stdout-log',
    ], { stdio: 'ignore' });
    await waitForStun(port, START_TIMEOUT_MS).catch(async (err: unknown) => {
      await stopChild(child, 5000);
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    return async () => {
      await stopChild(child, 5000);
      rmSync(dir, { recursive: true, force: true });
    };
  },
};

function uclient(port: number, peerPort: number, sessions: number): Promise<{ sent: number; received: number; loss: number; ms: number }> {
  const c = turnCredentials({ secret: SECRET, ttlSeconds: 600, nowSeconds: Date.now() / 1000, urls: [] });
  const started = Date.now();
  return new Promise((resolve) => {
    execFile('turnutils_uclient', [
      '-p', String(port), '-u', c.username, '-w', c.credential, '-e', '127.0.0.1', '-r', String(peerPort),
      '-m', String(sessions), '-n', String(MESSAGES), '-l', String(LENGTH), '-z', String(INTERVAL_MS), '-c', '127.0.0.1',
    ], { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 }, (_err, stdout, stderr) => {
      const out = `${stdout}${stderr}`;
      const totals = /tot_send_msgs=(\d+), tot_recv_msgs=(\d+)\s*$/m.exec(out);
      const sent = totals ? Number(totals[1]) : 0;
      const received = totals ? Number(totals[2]) : 0;
      resolve({ sent, received, loss: sent > 0 ? (100 * (sent - received)) / sent : 100, ms: Date.now() - started });
    });
  });
}

async function main(): Promise<void> {
  const peerPort = await freeUdpPort();
  const peer = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(peerPort)], { stdio: 'ignore' });
  const rows: Row[] = [];
  const targets = [bareCoturn, ourService('coturn'), ourService('node-turn')];
  try {
    let relayMin = 52000;
    for (const t of targets) {
      // One retry on fresh ports: a start that found its port or relay range taken
      // (seen once under load) should not cost the whole table.
      let port = await freeUdpPort();
      let stop: () => Promise<void>;
      try {
        stop = await t.start(port, relayMin);
      } catch (err) {
        console.error(`${t.name}: ${err instanceof Error ? err.message : String(err)}; retrying on other ports`);
        relayMin += 1000;
        port = await freeUdpPort();
        stop = await t.start(port, relayMin);
      }
      relayMin += 1000;
      try {
        for (const n of SESSIONS) {
          const r = await uclient(port, peerPort, n);
          rows.push({
            target: t.name, sessions: n, sent: r.sent, received: r.received, lossPercent: round(r.loss),
            mbPerSecond: round((r.received * LENGTH) / 1e6 / (r.ms / 1000)),
          });
        }
      } finally {
        await stop();
      }
    }
  } finally {
    await stopChild(peer, 5000);
  }
  const bare = (n: number) => rows.find((r) => r.target === 'bare coturn' && r.sessions === n);
  console.log('target            sessions   sent  received  loss%   MB/s   x bare');
  for (const r of rows) {
    const b = bare(r.sessions);
    const ratio = b && b.mbPerSecond > 0 ? round(r.mbPerSecond / b.mbPerSecond) : NaN;
    console.log(`${r.target.padEnd(17)} ${String(r.sessions).padStart(8)} ${String(r.sent).padStart(6)} ${String(r.received).padStart(9)} ${String(r.lossPercent).padStart(6)} ${String(r.mbPerSecond).padStart(6)} ${String(ratio).padStart(8)}`);
  }
  console.log(JSON.stringify({
    bench: 'turn', messagesPerSession: MESSAGES, bytes: LENGTH, intervalMs: INTERVAL_MS,
    rows: rows.map((r) => ({ ...r, ratioToBare: round(r.mbPerSecond / (bare(r.sessions)?.mbPerSecond ?? NaN)) })),
  }));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

await main();

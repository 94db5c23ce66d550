/**
 * TURN relay benchmark on the many-host bed (@mesh/shared/testing createBed:
 * network namespaces on a bridge, addresses in 25.0.0.0/24 that exist only
 * inside, no default route): coturn's own client (turnutils_uclient, channel
 * mode) on a client host relays through each target, on a host of its own, to
 * a turnutils_peer echo on a peer host, at 10 and 100 concurrent sessions.
 *
 * Targets: bare coturn (started by hand, its defaults), and our turn service
 * (services/turn/dist/main.js, built by `make bench`) with the coturn and the
 * node-turn backends on the production policy: no TURN_ALLOWED_PEERS, listening
 * on all addresses with the host's address as PUBLIC_URL. Only TURN_USER_QUOTA
 * is raised, since uclient opens every session on one credential.
 * Reports relayed throughput (echoed bytes / wall time) and loss, and both as
 * a ratio to bare coturn; then one JSON line.
 *
 * `--quick` sends fewer messages (CI smoke, asserts nothing about speed).
 * `--cpu-prof` writes a V8 CPU profile of each service process to
 * bench/dist/results/turn-prof-<time>/; `--only=node-turn` skips the other service target.
 * Needs root (network namespaces). Every
 * run has a timeout; the bed and everything in it is removed on any exit.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { turnCredentials } from '@mesh/shared';
import { BED_PREFIX, PATH_ENV, createBed, parseUclientOutput, runIn, type Bed, type ChildHandle } from '@mesh/shared/testing';

const quick = process.argv.includes('--quick');
const profile = process.argv.includes('--cpu-prof');
/** `--only=node-turn`: the targets whose name contains it (bare coturn still runs, as the baseline). */
const only = process.argv.find((a) => a.startsWith('--only='))?.slice('--only='.length);
// Quick (CI smoke) runs one size: each turnutils_uclient run takes ~5 s whatever its size.
const SESSIONS = quick ? [10] : [10, 100];
const MESSAGES = quick ? 50 : 1000;
const LENGTH = 1000;
const INTERVAL_MS = quick ? 5 : 1;
const SECRET = 'bench-turn-secret-0123456789';
const TURN_PORT = 3478;
const PEER_PORT = 3480;
/** A healthy target answers STUN within a second or two. */
const START_TIMEOUT_MS = 15_000;
const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

const CLIENT = { name: 'tc', octet: 3 };
const PEER = { name: 'tp', octet: 20 };
const peerIp = `${BED_PREFIX}.${PEER.octet}`;

interface Target {
  name: string;
  host: string;
  octet: number;
  /** Starts the target in its host; resolves once it answers STUN from the client host. */
  start(bed: Bed, ip: string): Promise<ChildHandle>;
}

interface Row {
  target: string;
  sessions: number;
  sent: number;
  received: number;
  lossPercent: number;
  mbPerSecond: number;
  /** Datagrams the kernel dropped for a full socket receive buffer during the run, per host (/proc/net/snmp of its namespace). */
  rcvbufDrops: { client: number; target: number; peer: number };
  /** CPU (user + system, every process of the target's host) per 1000 messages sent by the client. */
  cpuMsPer1000: number;
}

/** utime + stime of a process, in ms (/proc/<pid>/stat, clock ticks of 10 ms); 0 once it is gone. */
function cpuMs(pid: number): number {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '').split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return 0;
  }
}

/** CPU of every process in a host (the service and its coturn child alike). */
function hostCpuMs(bed: Bed, host: string): number {
  const out = spawnSync('ip', ['netns', 'pids', bed.host(host).ns], { encoding: 'utf8' }).stdout ?? '';
  return out.split('\n').map(Number).filter((p) => Number.isInteger(p) && p > 0).reduce((sum, p) => sum + cpuMs(p), 0);
}

/** UDP RcvbufErrors of a host: each namespace keeps its own counters. */
async function rcvbufErrors(bed: Bed, host: string): Promise<number> {
  const { output } = await runIn(bed, host, 'cat', ['/proc/net/snmp'], 5000);
  const lines = output.split('\n').filter((l) => l.startsWith('Udp:'));
  const names = (lines[0] ?? '').split(/\s+/);
  const values = (lines[1] ?? '').split(/\s+/);
  return Number(values[names.indexOf('RcvbufErrors')] ?? NaN);
}

async function waitForStun(bed: Bed, ip: string, child: ChildHandle): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  for (;;) {
    if (!child.isRunning()) throw new Error(`${child.name} exited: ${child.output().slice(-2000) || '(no output)'}`);
    const r = await runIn(bed, CLIENT.name, 'turnutils_stunclient', ['-p', String(TURN_PORT), ip], 2000);
    if (r.code === 0 && /reflexive addr/.test(r.output)) return;
    if (Date.now() > deadline) throw new Error(`${child.name}: nothing answers STUN on ${ip}:${TURN_PORT}; its output: ${child.output().slice(-2000)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

function ourService(backend: 'node-turn' | 'coturn', host: string, octet: number, profDir: string | undefined): Target {
  return {
    name: `service/${backend}`,
    host,
    octet,
    async start(bed, ip) {
      const child = bed.spawn(host, {
        name: `service-${backend}`,
        command: process.execPath,
        args: [...(profDir !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []), join(root, 'services/turn/dist/main.js')],
        cwd: root,
        // An operator's settings: the public URL and the backend; peer policy, listen address and ports at
        // their defaults (the host is the target's alone). Every uclient session uses one credential.
        env: {
          PATH: PATH_ENV, PUBLIC_URL: `http://${ip}:8080`, TURN_BACKEND: backend, TURN_SECRET: SECRET,
          TURN_USER_QUOTA: '1000', LOG_LEVEL: 'warn',
        },
      });
      await waitForStun(bed, ip, child);
      return child;
    },
  };
}

function bareCoturn(host: string, octet: number, dir: string): Target {
  return {
    name: 'bare coturn',
    host,
    octet,
    async start(bed, ip) {
      const child = bed.spawn(host, {
        name: 'bare-coturn',
        command: 'turnserver',
        args: [
          '-n', '--listening-ip', ip, '--relay-ip', ip, '--listening-port', String(TURN_PORT), '--use-auth-secret',
          '--static-auth-secret', SECRET, '--realm', 'bench', '--no-cli', '--no-tls', '--no-dtls',
          '--userdb', join(dir, 'db'), '--pidfile', join(dir, 'pid'), '--no-stdout-log', '--log-file', join(dir, 'log'),
        ],
        env: { PATH: PATH_ENV },
        cwd: dir,
      });
      await waitForStun(bed, ip, child);
      return child;
    },
  };
}

async function uclient(bed: Bed, ip: string, sessions: number): Promise<{ sent: number; received: number; loss: number; ms: number }> {
  // A fresh username per run: uclient does not release its allocations, they count until their lifetime ends.
  const c = turnCredentials({ secret: SECRET, ttlSeconds: 600, nowSeconds: Date.now() / 1000, urls: [] });
  const started = Date.now();
  const r = await runIn(bed, CLIENT.name, 'turnutils_uclient', [
    '-p', String(TURN_PORT), '-u', c.username, '-w', c.credential, '-e', peerIp, '-r', String(PEER_PORT),
    '-m', String(sessions), '-n', String(MESSAGES), '-l', String(LENGTH), '-z', String(INTERVAL_MS), ip,
  ], 120_000);
  const ms = Date.now() - started;
  const { sent, received, reported } = parseUclientOutput(r.output);
  if (!reported) console.error(`uclient (${sessions} sessions via ${ip}) reported no totals (exit ${r.code}): ${r.output.slice(-1500)}`);
  return { sent, received, loss: sent > 0 ? (100 * (sent - received)) / sent : 100, ms };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'bench-turn-'));
  let profDir: string | undefined;
  if (profile) {
    profDir = join(root, 'bench/dist/results', `turn-prof-${new Date().toISOString().replace(/[:.]/g, '')}`);
    mkdirSync(profDir, { recursive: true });
  }
  const targets = [bareCoturn('tb', 10, work), ourService('coturn', 'tsc', 11, profDir), ourService('node-turn', 'tsn', 12, profDir)]
    .filter((t) => only === undefined || t.name === 'bare coturn' || t.name.includes(only));
  const bed = createBed([CLIENT, PEER, ...targets.map((t) => ({ name: t.host, octet: t.octet }))].map((h) => ({ name: h.name, octets: [h.octet] })));
  const rows: Row[] = [];
  try {
    bed.spawn(PEER.name, { name: 'peer', command: 'turnutils_peer', args: ['-L', peerIp, '-p', String(PEER_PORT)], env: { PATH: PATH_ENV }, cwd: work });
    for (const t of targets) {
      const ip = `${BED_PREFIX}.${t.octet}`;
      const child = await t.start(bed, ip);
      try {
        for (const n of SESSIONS) {
          const hosts = [CLIENT.name, t.host, PEER.name];
          const before = await Promise.all(hosts.map((h) => rcvbufErrors(bed, h)));
          const cpu0 = hostCpuMs(bed, t.host);
          const r = await uclient(bed, ip, n);
          const cpu = hostCpuMs(bed, t.host) - cpu0;
          const after = await Promise.all(hosts.map((h) => rcvbufErrors(bed, h)));
          const [client, target, peer] = after.map((a, i) => a - (before[i] ?? 0)) as [number, number, number];
          rows.push({
            target: t.name, sessions: n, sent: r.sent, received: r.received, lossPercent: round(r.loss),
            mbPerSecond: round((r.received * LENGTH) / 1e6 / (r.ms / 1000)), rcvbufDrops: { client, target, peer },
            cpuMsPer1000: r.sent > 0 ? round((1000 * cpu) / r.sent) : NaN,
          });
        }
      } finally {
        // SIGTERM: a service writes its CPU profile as it exits.
        await child.stop(5000);
      }
    }
  } finally {
    await bed.destroy();
    rmSync(work, { recursive: true, force: true });
  }
  const bare = (n: number) => rows.find((r) => r.target === 'bare coturn' && r.sessions === n);
  console.log('target            sessions   sent  received  loss%   MB/s   x bare  cpu ms/1000  rcvbuf drops client/target/peer');
  for (const r of rows) {
    const b = bare(r.sessions);
    const ratio = b && b.mbPerSecond > 0 ? round(r.mbPerSecond / b.mbPerSecond) : NaN;
    console.log(`${r.target.padEnd(17)} ${String(r.sessions).padStart(8)} ${String(r.sent).padStart(6)} ${String(r.received).padStart(9)} ${String(r.lossPercent).padStart(6)} ${String(r.mbPerSecond).padStart(6)} ${String(ratio).padStart(8)} ${String(r.cpuMsPer1000).padStart(11)}   ${r.rcvbufDrops.client}/${r.rcvbufDrops.target}/${r.rcvbufDrops.peer}`);
  }
  if (profDir !== undefined) console.log(`CPU profiles: ${profDir}`);
  console.log(JSON.stringify({
    bench: 'turn', bed: true, policy: 'production', messagesPerSession: MESSAGES, bytes: LENGTH, intervalMs: INTERVAL_MS,
    rows: rows.map((r) => ({ ...r, ratioToBare: round(r.mbPerSecond / (bare(r.sessions)?.mbPerSecond ?? NaN)) })),
  }));
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}

await main();

import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SPECIAL_PURPOSE_CIDRS, onPath } from '@mesh/shared';
import type { TurnBackend, TurnBackendDeps } from '../backend.js';
import type { TurnAuthFailure } from '../metrics.js';
import { ownAddressCidrs } from '../peer-policy.js';
import { waitForStun } from '../wait-for-stun.js';
import { coturnConfig } from './config.js';
import { classifyCoturnLine, createRefusalDeduper } from './log-lines.js';
import { createSupervisor, type Supervisor } from './supervisor.js';

function supportsPrometheus(binary: string): boolean {
  const help = spawnSync(binary, ['-h'], { encoding: 'utf8', timeout: 5000 });
  return /--prometheus/.test(`${help.stdout ?? ''}${help.stderr ?? ''}`);
}

const PREFIX = /^\d+: (?:\(\d+\): )?: ?/;
const NEW_SESSION = /session (\w+): new,/;
const CLOSED_SESSION = /session (\w+): (?:closed|usage: .*deleted)/;
/**
 * Bytes exchanged with peers since the session's last report (coturn resets
 * its counters after each): received from peers went to the client, sent
 * went to peers. Debian's coturn has no Prometheus exporter; this is its traffic.
 */
const PEER_USAGE = /session \w+: peer usage: .*\brb=(\d+), sp=\d+, sb=(\d+)/;
const REFUSAL_REASON: Record<string, TurnAuthFailure> = {
  '401': 'bad_integrity', '438': 'stale_nonce', '441': 'wrong_user', '486': 'quota', '403': 'forbidden_peer',
};

/**
 * coturn, supervised: the config is written from ours into a private temp
 * directory (mode 0600: it holds the secret, kept off the command line),
 * `turnserver` runs as a child restarted with backoff, its log lines become
 * our JSON logs and our metrics (sessions opened/closed, refusals).
 */
export function createCoturnBackend(deps: TurnBackendDeps & { binary?: string }): TurnBackend & { pid(): number | undefined } {
  const binary = deps.binary ?? 'turnserver';
  const { config, log, metrics } = deps;
  const sessions = new Set<string>();
  // A missed "closed" line must not grow the set forever.
  const maxSessions = config.totalQuota * 2 + 1000;
  let supervisor: Supervisor | undefined;
  let workDir: string | undefined;
  let running = false;
  let refusals = createRefusalDeduper();
  const banner = new Set<string>();

  function onLine(raw: string): void {
    const line = raw.replace(PREFIX, '');
    if (line.trim() === '') return;
    let m = NEW_SESSION.exec(line);
    if (m?.[1] !== undefined && sessions.size < maxSessions) {
      sessions.add(m[1]);
      metrics.allocations(sessions.size);
    } else if ((m = CLOSED_SESSION.exec(line)) && m[1] !== undefined) {
      if (sessions.delete(m[1])) metrics.allocations(sessions.size);
    }
    const usage = PEER_USAGE.exec(line);
    if (usage?.[1] !== undefined && usage[2] !== undefined) {
      metrics.relayed('to_client', Number(usage[1]));
      metrics.relayed('to_peer', Number(usage[2]));
    }
    const { refused, repeat } = refusals(line);
    // An empty user is the normal first challenge of long-term auth, not a failure.
    if (refused && refused.user !== '') metrics.authFailure(REFUSAL_REASON[refused.code] ?? 'bad_integrity');
    if (repeat) return;
    const kind = classifyCoturnLine(line);
    if (kind === 'packet') return log.debug({ coturn: line }, 'coturn');
    // coturn prints some lines once per thread, and retries a bind in a loop: each is logged once per run.
    if (banner.has(line) || banner.size >= 1000) return;
    banner.add(line);
    if (kind === 'fault') log.warn({ coturn: line }, 'coturn');
    else log.debug({ coturn: line }, 'coturn');
  }

  return {
    name: 'coturn',
    tcp: true,
    async start() {
      if (supervisor) return;
      workDir = await mkdtemp(join(tmpdir(), 'mesh-coturn-'));
      const file = join(workDir, 'turnserver.conf');
      await writeFile(file, coturnConfig({
        turn: config, secret: deps.secret, workDir, deniedCidrs: [...SPECIAL_PURPOSE_CIDRS, ...ownAddressCidrs(config)],
        prometheus: supportsPrometheus(binary),
      }), { mode: 0o600 });
      // coturn block-buffers stdout into a pipe; stdbuf makes its log lines arrive as written.
      const server = onPath('stdbuf') ? ['stdbuf', '-oL', '-eL', binary, '-c', file] : [binary, '-c', file];
      // setpriv (util-linux) makes the kernel kill coturn if this process dies
      // without stopping it (SIGKILL, crash): no orphan keeps the TURN ports.
      const [command, ...args] = onPath('setpriv') ? ['setpriv', '--pdeathsig', 'KILL', ...server] : server;
      if (command === undefined) throw new Error('no coturn command');
      supervisor = createSupervisor({
        command, args, log, onLine,
        onSpawn: (restart) => {
          if (restart) {
            metrics.restarted();
            metrics.backendUp('coturn', true);
          }
          sessions.clear();
          metrics.allocations(0);
          refusals = createRefusalDeduper();
          banner.clear();
        },
        onExit: () => {
          metrics.backendUp('coturn', false);
        },
      });
      supervisor.start();
      try {
        await waitForStun(config.listenHost, config.port, 15_000);
      } catch (err) {
        await this.stop();
        throw err;
      }
      running = true;
      metrics.backendUp('coturn', true);
      log.info({ port: config.port, pid: supervisor.pid() }, 'coturn serving');
    },
    async stop() {
      const s = supervisor;
      supervisor = undefined;
      if (s) await s.stop();
      running = false;
      metrics.backendUp('coturn', false);
      if (workDir) await rm(workDir, { recursive: true, force: true });
      workDir = undefined;
    },
    stats: () => ({ allocations: sessions.size, running: running && supervisor?.pid() !== undefined }),
    /** The turnserver's pid (setpriv and stdbuf exec into it): for tests and diagnostics. */
    pid: () => supervisor?.pid(),
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { backoffMs } from '@mesh/shared';
import type { Logger } from 'pino';

export interface SupervisorOptions {
  command: string;
  args: string[];
  log: Logger;
  /** Each line the child writes on stdout or stderr (truncated to 2 KB). */
  onLine(line: string): void;
  /** The child was (re)spawned. */
  onSpawn?(restart: boolean): void;
  /** The child ended, expectedly (stop) or not. */
  onExit?(expected: boolean): void;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  /** A child that ran this long resets the backoff. */
  stableMs?: number;
  /** SIGKILL after this long without exiting on SIGTERM. */
  stopTimeoutMs?: number;
}

export interface Supervisor {
  start(): void;
  /** SIGTERM, then SIGKILL after the timeout; resolves once the child is gone. */
  stop(): Promise<void>;
  /** Pid of the running child, if any. */
  pid(): number | undefined;
}

const MAX_LINE = 2048;

/**
 * Keeps one child process running: restarts it with exponential backoff when
 * it dies, forwards its output line by line, and stops it cleanly.
 */
export function createSupervisor(opts: SupervisorOptions): Supervisor {
  const minBackoff = opts.minBackoffMs ?? 500;
  const maxBackoff = opts.maxBackoffMs ?? 30_000;
  const stableMs = opts.stableMs ?? 60_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 5000;
  let child: ChildProcess | undefined;
  let stopping = false;
  let failures = 0;
  let restartTimer: NodeJS.Timeout | undefined;
  let exited: Promise<void> = Promise.resolve();
  let spawns = 0;

  function forward(stream: NodeJS.ReadableStream | null): void {
    if (!stream) return;
    const rl = createInterface({ input: stream, crlfDelay: Infinity });
    rl.on('line', (line) => opts.onLine(line.length > MAX_LINE ? line.slice(0, MAX_LINE) : line));
  }

  function spawnChild(): void {
    const startedAt = Date.now();
    const c = spawn(opts.command, opts.args, { stdio: ['ignore', 'pipe', 'pipe'] });
    child = c;
    opts.onSpawn?.(spawns++ > 0);
    forward(c.stdout);
    forward(c.stderr);
    exited = new Promise((resolve) => {
      c.once('close', (code, signal) => {
        if (child === c) child = undefined;
        opts.onExit?.(stopping);
        resolve();
        if (stopping) return;
        failures = Date.now() - startedAt >= stableMs ? 1 : failures + 1;
        const delay = backoffMs(failures, { baseMs: minBackoff, maxMs: maxBackoff });
        opts.log.error({ code, signal, restartInMs: delay }, `${opts.command} exited; restarting`);
        restartTimer = setTimeout(spawnChild, delay);
      });
    });
    c.on('error', (err) => opts.log.error({ err: err.message }, `${opts.command} could not be spawned`));
  }

  return {
    start() {
      stopping = false;
      if (!child && !restartTimer) spawnChild();
    },
    async stop() {
      stopping = true;
      clearTimeout(restartTimer);
      restartTimer = undefined;
      const c = child;
      if (!c || c.exitCode !== null || c.signalCode !== null) return exited;
      c.kill('SIGTERM');
      const killer = setTimeout(() => c.kill('SIGKILL'), stopTimeoutMs);
      await exited;
      clearTimeout(killer);
    },
    pid: () => child?.pid,
  };
}

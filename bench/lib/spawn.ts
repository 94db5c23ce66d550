/**
 * A server child process that announces readiness on stdout: resolves with
 * what `ready` extracts from the first matching line, and keeps draining
 * stdout/stderr afterwards so a chatty child never blocks on a full pipe.
 */
import { spawn, type ChildProcess } from 'node:child_process';

export interface ServerProcess<T> {
  pid: number;
  info: T;
  /** SIGTERM, SIGKILL after 8 s; idempotent. */
  stop(): Promise<void>;
}

export interface SpawnOptions<T> {
  command: string;
  args: string[];
  /** The whole environment of the child: nothing is inherited. */
  env: Record<string, string>;
  cwd?: string;
  /** Returns the ready info for a stdout line that says the server is up, else undefined. */
  ready(line: string): T | undefined;
  timeoutMs?: number;
}

const alive = new Set<ChildProcess>();
// A crashed bench never leaves servers behind.
process.once('exit', () => { for (const c of alive) c.kill('SIGKILL'); });

/** SIGTERM, SIGKILL after `graceMs`; resolves once the child exited. Idempotent. */
export function stopChild(child: ChildProcess, graceMs = 8000): Promise<void> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
    child.once('exit', () => {
      clearTimeout(force);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

export function startServerProcess<T>(o: SpawnOptions<T>): Promise<ServerProcess<T>> {
  const child = spawn(o.command, o.args, { env: o.env, cwd: o.cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  const stop = (): Promise<void> => stopChild(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    let done = false;
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      void stop();
      reject(new Error(`${o.args[0] ?? o.command} did not start in time: ${err.slice(-500)}`));
    }, o.timeoutMs ?? 20_000);
    child.stderr?.on('data', (d: Buffer) => { err = (err + d.toString()).slice(-4096); });
    child.once('exit', (code) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      reject(new Error(`${o.args[0] ?? o.command} exited (${code}): ${err.slice(-500)}`));
    });
    child.stdout?.on('data', (d: Buffer) => {
      if (done) return; // drained, not parsed
      out += d.toString();
      let nl: number;
      while ((nl = out.indexOf('\n')) >= 0) {
        const line = out.slice(0, nl);
        out = out.slice(nl + 1);
        const info = o.ready(line);
        if (info !== undefined) {
          done = true;
          clearTimeout(timer);
          resolve({ pid: child.pid ?? 0, info, stop });
          return;
        }
      }
      if (out.length > 65536) out = '';
    });
  });
}

/** Ports from a mesh entry point's `started` log line (libs/shared launch.ts). */
export function startedLine(line: string): { port: number; opsPort: number } | undefined {
  try {
    const j = JSON.parse(line) as { msg?: unknown; port?: unknown; opsPort?: unknown };
    if (j.msg === 'started' && typeof j.port === 'number' && typeof j.opsPort === 'number') return { port: j.port, opsPort: j.opsPort };
  } catch {
    // not a JSON log line
  }
  return undefined;
}

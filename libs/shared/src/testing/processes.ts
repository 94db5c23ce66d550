import { spawn, type ChildProcess } from 'node:child_process';

/**
 * Child processes of a topology test or a bed benchmark: each keeps a bounded tail of its output
 * (shown when a test fails), and every child still alive when the test
 * process exits is SIGKILLed, so a crashed run never leaks servers.
 */

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface ChildHandle {
  readonly name: string;
  readonly pid: number;
  /** Resolves when the process has exited (at once if it already has). */
  readonly exited: Promise<ExitInfo>;
  isRunning(): boolean;
  /** The last few KB of stdout and stderr, interleaved. */
  output(): string;
  signal(sig: NodeJS.Signals): void;
  /** SIGTERM, SIGKILL after `graceMs`; resolves once exited. Idempotent. */
  stop(graceMs?: number): Promise<ExitInfo>;
}

export interface ChildSpawnOptions {
  name: string;
  command: string;
  args: string[];
  env: Record<string, string>;
  cwd: string;
}

const OUTPUT_TAIL_BYTES = 64 * 1024;
const DEFAULT_GRACE_MS = 5000;

const alive = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  alive.add(child);
  child.once('exit', () => alive.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of alive) c.kill('SIGKILL');
    });
  }
}

export function spawnChild(opts: ChildSpawnOptions): ChildHandle {
  // Only the given environment: the test runner's NODE_OPTIONS and TEST_* stay out.
  const child = spawn(opts.command, opts.args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  if (child.pid === undefined) throw new Error(`${opts.name}: spawn ${opts.command} failed`);
  track(child);

  let tail = '';
  const keep = (d: Buffer): void => {
    tail = (tail + d.toString('utf8')).slice(-OUTPUT_TAIL_BYTES);
  };
  // Always drained: a full pipe would block the child's writes.
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve(exitInfo);
    });
    child.once('error', (err) => {
      tail += `\n[spawn error] ${err.message}`;
      exitInfo = { code: -1, signal: null };
      resolve(exitInfo);
    });
  });

  let stopping: Promise<ExitInfo> | undefined;
  return {
    name: opts.name,
    pid: child.pid,
    exited,
    isRunning: () => exitInfo === undefined,
    output: () => tail,
    signal(sig) {
      if (exitInfo === undefined) child.kill(sig);
    },
    stop(graceMs = DEFAULT_GRACE_MS) {
      stopping ??= (async () => {
        if (exitInfo !== undefined) return exitInfo;
        child.kill('SIGTERM');
        const force = setTimeout(() => child.kill('SIGKILL'), graceMs);
        const info = await exited;
        clearTimeout(force);
        return info;
      })();
      return stopping;
    },
  };
}

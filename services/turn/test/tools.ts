import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { parseConfig, type TurnConfig } from '@mesh/shared';
import { parseUclientOutput } from '@mesh/shared/testing';

/** Result of one turnutils_uclient run. */
export interface UclientResult {
  exitCode: number | null;
  sent: number;
  received: number;
  lostPercent: number | undefined;
  output: string;
}

/** A port free for both UDP and TCP on `host` (coturn listens on both). */
export async function freePort(host = '127.0.0.1'): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const port = 20000 + Math.floor(Math.random() * 20000);
    if (await canBind(port, host)) return port;
  }
  throw new Error('no free port');
}

async function canBind(port: number, host: string): Promise<boolean> {
  const udp = await new Promise<boolean>((resolve) => {
    const s = createSocket(host.includes(':') ? 'udp6' : 'udp4');
    s.once('error', () => resolve(false));
    s.bind(port, host, () => s.close(() => resolve(true)));
  });
  if (!udp) return false;
  return new Promise<boolean>((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, host, () => s.close(() => resolve(true)));
  });
}

/** A TurnConfig on loopback with its own listening port and relay range. */
export async function testTurnConfig(over: Partial<TurnConfig> = {}): Promise<TurnConfig> {
  const port = await freePort(over.listenHost);
  const relayMinPort = 40000 + Math.floor(Math.random() * 200) * 100;
  return {
    ...parseConfig({}, 'turn').turn,
    port, listenHost: '127.0.0.1', publicHost: '127.0.0.1', realm: 'mesh.test',
    relayMinPort, relayMaxPort: relayMinPort + 99, userQuota: 50, totalQuota: 500,
    ...over,
  };
}

function run(cmd: string, args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 8 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
      resolve({ code, out: `${stdout}${stderr}` });
    });
  });
}

export interface UclientOptions {
  port: number;
  username: string;
  password: string;
  peerPort: number;
  peer?: string;
  messages?: number;
  sessions?: number;
  length?: number;
  /** Send indications instead of channels (uclient `-s`). */
  send?: boolean;
  intervalMs?: number;
  timeoutMs?: number;
  /** Keep uclient's RTCP allocation (EVEN-PORT); off by default (`-c`). */
  rtcp?: boolean;
}

/** Runs coturn's own test client against 127.0.0.1:port and parses its totals. */
export async function uclient(o: UclientOptions): Promise<UclientResult> {
  const args = [
    '-p', String(o.port), '-u', o.username, '-w', o.password,
    '-e', o.peer ?? '127.0.0.1', '-r', String(o.peerPort),
    '-n', String(o.messages ?? 50), '-m', String(o.sessions ?? 1), '-l', String(o.length ?? 100),
    '-z', String(o.intervalMs ?? 5), ...(o.rtcp ? [] : ['-c']), ...(o.send ? ['-s'] : []), '127.0.0.1',
  ];
  const { code, out } = await run('turnutils_uclient', args, o.timeoutMs ?? 30_000);
  const { sent, received, lostPercent } = parseUclientOutput(out);
  return { exitCode: code, sent, received, lostPercent, output: out };
}

/** turnutils_stunclient: the reflexive address it printed. */
export async function stunclient(port: number): Promise<string | undefined> {
  const { out } = await run('turnutils_stunclient', ['-p', String(port), '127.0.0.1'], 10_000);
  return /UDP reflexive addr: (\S+)/.exec(out)?.[1];
}

/** coturn's echo peer on loopback; resolves once it echoes. */
export async function startPeer(): Promise<{ port: number; stop(): Promise<void> }> {
  const port = await freePort();
  const child: ChildProcess = spawn('turnutils_peer', ['-L', '127.0.0.1', '-p', String(port)], { stdio: 'ignore' });
  await waitForEcho(port);
  return {
    port,
    stop: () => new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('close', () => resolve());
      child.kill('SIGTERM');
    }),
  };
}

async function waitForEcho(port: number): Promise<void> {
  const sock = createSocket('udp4');
  try {
    await new Promise<void>((resolve, reject) => {
      const deadline = Date.now() + 5000;
      sock.on('message', () => { clearInterval(timer); resolve(); });
      const timer = setInterval(() => {
        if (Date.now() > deadline) { clearInterval(timer); reject(new Error('turnutils_peer did not echo')); return; }
        sock.send(Buffer.from('ping'), port, '127.0.0.1');
      }, 50);
    });
  } finally {
    sock.close();
  }
}

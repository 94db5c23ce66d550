import { describe, expect, test } from '@jest/globals';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { freePort as freeTcpPort, waitFor } from '@mesh/shared/testing';
import { freePort, stunclient } from './tools.js';

// The turn service started as its container entry (built by `make test`),
// with the coturn backend; then killed without a chance to stop coturn.
const ENTRY = join(process.cwd(), 'services/turn/dist/main.js');

function childrenOf(pid: number): number[] {
  try {
    return execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe('coturn under a killed turn service', () => {
  test('dies with it: no orphan keeps the TURN port', async () => {
    expect(existsSync(ENTRY)).toBe(true);
    const port = await freePort();
    const relayMin = 30000 + Math.floor(Math.random() * 90) * 100;
    const child = spawn(process.execPath, [ENTRY], {
      stdio: 'ignore',
      env: {
        PATH: process.env['PATH'] ?? '/usr/bin:/bin', TURN_BACKEND: 'coturn', TURN_PORT: String(port),
        TURN_LISTEN_HOST: '127.0.0.1', TURN_RELAY_MIN_PORT: String(relayMin), TURN_RELAY_MAX_PORT: String(relayMin + 20),
        TURN_SECRET: 'orphan-test-secret-0123456789', METRICS_PORT: String(await freeTcpPort()), LOG_LEVEL: 'silent',
      },
    });
    try {
      await waitFor(async () => (await stunclient(port)) !== undefined, { timeoutMs: 20_000, message: 'coturn answers STUN' });
      const coturn = childrenOf(child.pid ?? 0);
      expect(coturn).toHaveLength(1);
      child.kill('SIGKILL');
      await waitFor(() => !existsSync(`/proc/${coturn[0]}`), { timeoutMs: 10_000, message: 'coturn gone with its parent' });
    } finally {
      child.kill('SIGKILL');
    }
  }, 40_000);
});

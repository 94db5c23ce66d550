import { afterAll, describe, expect, test } from '@jest/globals';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { waitFor } from '@mesh/shared/testing';
import { startMeshNode } from './support/node.js';

// Issue 15, must show (first run): the node `make run` starts says in its last
// start-up line where to open the demo and the status page, and Ctrl-C under make
// (SIGINT to the node, then make's SIGTERM right after) still ends in a whole stop:
// exit 0, "stopped", coturn's work folder removed. Needs `make build`.

const dirs: string[] = [];
const stops: (() => Promise<void>)[] = [];

afterAll(async () => {
  await Promise.all(stops.map((stop) => stop()));
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

interface LogLine { msg?: string; demo?: string; status?: string; signal?: string }

function lines(output: string): LogLine[] {
  return output.split('\n').flatMap((l) => {
    try { return [JSON.parse(l) as LogLine]; } catch { return []; }
  });
}

describe('a first run of the embedded node', () => {
  test('the last start-up line names the demo and status URLs; SIGINT then SIGTERM still stops cleanly and removes the work folder', async () => {
    // The node's own temporary directory, so its coturn work folder can be looked for.
    const tmp = await mkdtemp(join(tmpdir(), 'mesh-first-run-'));
    dirs.push(tmp);
    const node = await startMeshNode({ name: 'first-run', turnBackend: 'coturn', env: { TMPDIR: tmp, LOG_LEVEL: 'info' } });
    // A failed expectation must not leave the node running (its pipes would keep jest alive).
    stops.push(() => node.child.stop(1000).then(() => undefined));
    // Ready came over HTTP; the log line over a pipe, which may be read a moment later.
    await waitFor(() => lines(node.child.output()).some((l) => l.msg === 'started'), { timeoutMs: 5000, intervalMs: 20, message: 'the started line' });
    const started = lines(node.child.output()).filter((l) => l.msg === 'started');
    expect(started).toHaveLength(1);
    expect(started[0]).toMatchObject({ demo: `${node.url}/demo/`, status: `${node.url}/` });
    // Ready means started: nothing of the start-up comes after that line.
    expect(lines(node.child.output()).at(-1)?.msg).toBe('started');
    expect((await readdir(tmp)).filter((n) => n.startsWith('mesh-coturn-'))).toHaveLength(1);

    node.child.signal('SIGINT');
    node.child.signal('SIGTERM');
    const exit = await node.child.exited;
    await waitFor(() => lines(node.child.output()).at(-1)?.msg === 'stopped', { timeoutMs: 5000, intervalMs: 20, message: 'the stopped line' });
    const after = lines(node.child.output());
    expect(exit).toEqual({ code: 0, signal: null });
    // Two signals sent back to back can be handled in either order (any of the process's threads
    // may take either), so: one starts the stop, the other finds it stopping.
    const first = after.filter((l) => l.msg === 'signal received').map((l) => l.signal);
    expect(first.length === 1 && ['SIGINT', 'SIGTERM'].includes(first[0] ?? '')).toBe(true);
    const second = first[0] === 'SIGINT' ? 'SIGTERM' : 'SIGINT';
    expect(after.some((l) => l.msg === 'signal received while stopping: still stopping' && l.signal === second)).toBe(true);
    expect(await readdir(tmp)).toEqual([]);
  }, 60_000);
});

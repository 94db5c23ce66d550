/**
 * Test support, imported as `@mesh/shared/testing`. Only tests and
 * benchmarks use it; it may read `process.env` (TEST_NATS_URL, TEST_REDIS_URL).
 *
 * - `MACHINE_NATS_URL`, `MACHINE_REDIS_URL`: the shared servers of this
 *   machine. Shared with other test runs: always use `uniquePrefix`.
 * - `startNatsServer`, `startRedisServer`: private servers on a spare port,
 *   for tests that stop or restart them.
 * - `waitFor`: poll a condition instead of sleeping.
 * - `deleteRedisKeys`: afterAll cleanup of a prefix on a shared Redis.
 * - `SseClient`: an EventSource-like client over fetch streams (with Last-Event-ID).
 * - `createBed`, `runIn`: the many-host bed (network namespaces on a bridge, root only);
 *   `spawnChild`: a child process with its output tail, killed at exit.
 * - `parseUclientOutput`: the totals of a `turnutils_uclient` run.
 * - `launchInTest`: a process's launch on the test's own bus and store clients;
 *   `metricSample`: one sample of Prometheus text.
 */
export { freePort } from './ports.js';
export { launchInTest, type LaunchedInTest } from './launched.js';
export { metricSample } from './metric-sample.js';
export { startNatsServer, startRedisServer, type TestServer } from './servers.js';
export { waitFor, type WaitForOptions } from './wait.js';
export { deleteRedisKeys } from './redis-keys.js';
export { inProcessBackends, machineBackends, type TestBackends } from './backends.js';
export { createBep44Signer, type Bep44Signer, type SignedBep44Item } from './bep44-signer.js';
export { SseClient, type SseEvent, type SseOpenOptions, type SseRefusal } from './sse-client.js';
export { parseUclientOutput, type UclientTotals } from './uclient.js';
export { spawnChild, type ChildHandle, type ChildSpawnOptions, type ExitInfo } from './processes.js';
export {
  BED_CIDR, BED_PREFIX, PATH_ENV, createBed, requireNetns, runIn, type Bed, type BedHost, type HostSpec, type SpawnInHostOptions,
} from './netns.js';

import { randomBytes } from 'node:crypto';

export const MACHINE_NATS_URL: string = process.env['TEST_NATS_URL'] ?? 'nats://127.0.0.1:4222';
export const MACHINE_REDIS_URL: string = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/**
 * A prefix unique to this call, usable both as a bus subject prefix and
 * (with a trailing `:` added by the caller, if wanted) as a store key prefix:
 * `t_<label>_<pid>_<random>`, only `[A-Za-z0-9_]`.
 */
export function uniquePrefix(label: string): string {
  const clean = label.replace(/[^A-Za-z0-9_]/g, '_').slice(0, 32);
  return `t_${clean}_${process.pid}_${randomBytes(5).toString('hex')}`;
}

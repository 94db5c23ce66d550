import { spawnSync } from 'node:child_process';
import type { TurnBackendName } from './config.js';

export type ResolvedTurnBackend = Exclude<TurnBackendName, 'auto'>;

/** Whether `cmd` (a constant program name, never input) is on PATH. */
export function onPath(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/**
 * `auto`: coturn when `turnserver` is on PATH, else node-turn. One rule for
 * the turn service (which backend it runs) and the runtime (which urls
 * `/token` and `/` advertise: TCP only with coturn).
 */
export function resolveTurnBackend(configured: TurnBackendName, hasCoturn?: boolean): ResolvedTurnBackend {
  // PATH is looked up (a shell spawned) only for `auto`.
  if (configured === 'auto') return (hasCoturn ?? onPath('turnserver')) ? 'coturn' : 'node-turn';
  return configured;
}

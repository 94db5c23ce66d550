/** Messages between the comparison (parent) and the load generator process (child, IPC). */
import type { TargetKind } from '../lib/targets.js';

export interface TargetRef { kind: TargetKind; ports: number[] }

export type Scenario =
  /** N subscribers of one room, M publisher connections each keeping `window` messages in flight. */
  | { type: 'fanout'; target: TargetRef; subscribers: number; publishers: number; window: number; warmupSeconds: number; seconds: number }
  /** `pairs` rooms of two; each member sends to the other, `window` in flight each. */
  | { type: 'pairs'; target: TargetRef; pairs: number; window: number; warmupSeconds: number; seconds: number }
  /** `connections` idle subscribers, two per room. */
  | { type: 'idle'; target: TargetRef; connections: number };

export interface TrafficResult {
  delivered: number;
  sent: number;
  /** Messages still short of a recipient when the drain deadline passed. */
  lost: number;
  errors: number;
  /** The first refusal or socket error, when there were any. */
  errorSample?: string;
  seconds: number;
  p50ms: number;
  p99ms: number;
  maxms: number;
  /** CPU the generator itself used while measuring (it shares the 2 cores). */
  generatorCpuSeconds: number;
}

export interface IdleResult { connections: number; openSeconds: number }

export type ParentMessage = { cmd: 'start'; scenario: Scenario } | { cmd: 'run' } | { cmd: 'close' };
export type ChildMessage =
  | { ev: 'ready' }
  | { ev: 'measuring' }
  | { ev: 'result'; traffic?: TrafficResult; idle?: IdleResult }
  | { ev: 'error'; message: string };

/** Bytes of every message body: 1 KB as the workload asks (the rooms limit is 1024). */
export const BODY_BYTES = 1000;

// Moved to @mesh/shared/testing, where the benchmarks reach it too (bench/turn.bench.ts runs on the bed).
export { spawnChild, type ChildHandle, type ExitInfo, type ChildSpawnOptions as SpawnOptions } from '@mesh/shared/testing';

// Moved to @mesh/shared/testing, where the benchmarks reach it too (bench/turn.bench.ts runs on the bed).
export { BED_CIDR, BED_PREFIX, createBed, requireNetns, type Bed, type BedHost, type HostSpec, type SpawnInHostOptions } from '@mesh/shared/testing';

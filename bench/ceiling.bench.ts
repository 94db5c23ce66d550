/**
 * The SHA-256 ceilings every PoW figure is compared with, on this machine,
 * one thread:
 * - a plain `crypto.createHash` loop, one call per nonce (what naive
 *   server or client code does);
 * - OpenSSL's bulk compression rate: one large buffer hashed at once, in
 *   64-byte compressions/s. A solver that reuses the prefix's midstate pays
 *   one or two compressions per attempt, so this bounds any solver here.
 * `--quick` hashes less. Prints a table and one JSON line.
 */
import { createHash } from 'node:crypto';

const quick = process.argv.includes('--quick');
const ROUNDS = 3;

function best(run: () => number): number {
  let top = 0;
  for (let i = 0; i < ROUNDS; i++) top = Math.max(top, run());
  return top;
}

function plainLoop(n: number): number {
  const prefix = `v1.1764000000.${'A'.repeat(43)}:4096:POST:/room/${'ab'.repeat(20)}:${'cd'.repeat(32)}:`;
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) sink ^= createHash('sha256').update(prefix + i.toString(36)).digest()[0] ?? 0;
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  if (sink === 256) console.log('unreachable'); // keeps the loop observable
  return n / s;
}

function bulkCompressions(bytes: number): number {
  const buf = Buffer.alloc(bytes, 7);
  const t0 = process.hrtime.bigint();
  createHash('sha256').update(buf).digest();
  return bytes / 64 / (Number(process.hrtime.bigint() - t0) / 1e9);
}

plainLoop(10_000); // warm-up
const plain = best(() => plainLoop(quick ? 30_000 : 300_000));
const bulk = best(() => bulkCompressions((quick ? 16 : 128) * 1024 * 1024));
console.log(`plain createHash per nonce      ${Math.round(plain).toLocaleString('en').padStart(14)} hashes/s`);
console.log(`bulk SHA-256 compressions       ${Math.round(bulk).toLocaleString('en').padStart(14)} /s (one thread)`);
console.log(JSON.stringify({ bench: 'sha-ceiling', quick, plainHashesPerSecond: Math.round(plain), bulkCompressionsPerSecond: Math.round(bulk) }));

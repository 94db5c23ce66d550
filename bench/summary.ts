/**
 * Digest of one `make bench` run: reads the JSON line every bench prints
 * (from the log bench/run.sh tees) and prints Markdown tables, each figure
 * with its ratio to the peer measured in the same run (absolute numbers
 * vary between machines; ratios travel better). Usage: node summary.js <log>
 */
import { readFileSync } from 'node:fs';
import { ratio } from './lib/stats.js';

type Json = Record<string, unknown>;

const lines = readFileSync(process.argv[2] ?? '/dev/stdin', 'utf8').split('\n');
const results = new Map<string, Json>();
for (const line of lines) {
  if (!line.startsWith('{"bench":')) continue;
  try {
    const j = JSON.parse(line) as Json;
    if (typeof j.bench === 'string') results.set(j.bench, j);
  } catch {
    // a truncated line of a failed bench
  }
}

const num = (v: unknown): number => (typeof v === 'number' ? v : NaN);
const arr = (v: unknown): Json[] => (Array.isArray(v) ? v.filter((x): x is Json => typeof x === 'object' && x !== null) : []);
const fmt = (x: number): string => (Number.isFinite(x) ? x.toLocaleString('en', { maximumSignificantDigits: 4 }) : 'n/a');
const out: string[] = [];
const table = (head: string[], rows: (string | number)[][]): void => {
  out.push(`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`);
  for (const r of rows) out.push(`| ${r.map((c) => (typeof c === 'number' ? fmt(c) : c)).join(' | ')} |`);
  out.push('');
};

const compare = results.get('compare');
if (compare) {
  const traffic = arr(compare.traffic);
  const groups = [
    ...[...new Set(traffic.filter((r) => r.workload === 'fanout').map((r) => num(r.publishers)))].map((p) => ({ workload: 'fanout', p })),
    { workload: 'pairs', p: NaN },
  ];
  for (const { workload, p } of groups) {
    const rows = traffic.filter((r) => r.workload === workload && (workload !== 'fanout' || num(r.publishers) === p));
    if (rows.length === 0) continue;
    const peer = (name: string): Json | undefined => rows.find((r) => r.target === name);
    const y = peer('y-webrtc');
    const t = peer('bt-tracker');
    out.push(`### Signaling, ${workload === 'fanout' ? `one room fan-out, ${Number.isFinite(p) ? p : '?'} publisher(s)` : 'many rooms of two'}`, '');
    table(
      ['target', 'delivered/s', 'p50 ms', 'p99 ms', 'max ms', 'server CPU s / 1000', 'NATS+Redis CPU s / 1000', 'generator CPU s / 1000', 'lost / errors', 'x y-webrtc (deliv/s, p50, p99, CPU)', 'x bt-tracker (same)'],
      rows.map((r) => {
        const cpu = num(r.serverCpuPer1000) + num(r.brokerCpuPer1000);
        const vs = (b: Json | undefined): string => (b === undefined ? 'n/a'
          : `${fmt(ratio(num(r.deliveredPerSecond), num(b.deliveredPerSecond)))} / ${fmt(ratio(num(r.p50ms), num(b.p50ms)))} / ${fmt(ratio(num(r.p99ms), num(b.p99ms)))} / ${fmt(ratio(cpu, num(b.serverCpuPer1000)))}`);
        const gen = num(r.delivered) > 0 ? (num(r.generatorCpuSeconds) * 1000) / num(r.delivered) : NaN;
        return [String(r.target), num(r.deliveredPerSecond), num(r.p50ms), num(r.p99ms), num(r.maxms), num(r.serverCpuPer1000), num(r.brokerCpuPer1000),
          Number(gen.toPrecision(3)), `${fmt(num(r.lost))} / ${fmt(num(r.errors))}`, vs(y), vs(t)];
      }),
    );
  }
  const idle = arr(compare.idle);
  if (idle.length > 0) {
    const y = idle.find((r) => r.target === 'y-webrtc');
    const t = idle.find((r) => r.target === 'bt-tracker');
    out.push(`### Memory per idle connection (${fmt(num(idle[0]?.connections))} connections, one server process)`, '');
    table(['target', 'RSS bytes / connection', 'x y-webrtc', 'x bt-tracker'],
      idle.map((r) => [String(r.target), num(r.rssPerConnBytes), ratio(num(r.rssPerConnBytes), num(y?.rssPerConnBytes)), ratio(num(r.rssPerConnBytes), num(t?.rssPerConnBytes))]));
  }
  for (const r of traffic) {
    if (typeof r.errorSample === 'string') out.push(`- ${String(r.target)} ${String(r.workload)}: first error: ${r.errorSample}`, '');
  }
  const un = compare.unavailable as Record<string, string> | undefined;
  for (const [n, why] of Object.entries(un ?? {})) out.push(`- ${n}: not measured in this run (${why})`, '');
}

const pow = results.get('pow');
const solver = results.get('sigmesh-solver');
const ceiling = results.get('sha-ceiling');
if (pow) {
  const plain = num(pow.plain_hashes_per_s);
  const bulk = num(ceiling?.bulkCompressionsPerSecond);
  out.push('### PoW (baseline: a plain `crypto.createHash` loop, one thread, same run)', '');
  const rows: [string, number][] = [
    ['server verify, memory store (per s)', num(pow.verify_memory_per_s)],
    ['server verify, Redis, sequential (per s)', num(pow.verify_redis_seq_per_s)],
    ['server verify, Redis, 64 in flight (per s)', num(pow.verify_redis_c64_per_s)],
    ['solver hashes/s, Node, shared solveProof', num(pow.solver_hashes_per_s)],
  ];
  for (const r of arr(solver?.rows)) rows.push([`solver hashes/s, ${String(r.name)}`, num(r.hashesPerSecond)]);
  rows.push(['plain createHash loop, hashes/s', plain]);
  if (ceiling) rows.push(['OpenSSL bulk SHA-256 compressions/s, one thread (ceiling.bench)', bulk]);
  table(['measurement', 'per second', 'x plain createHash', 'x bulk compressions'],
    rows.map(([n, v]) => [n, Math.round(v), ratio(v, plain), Number((v / bulk).toPrecision(2))]));
}

const turn = results.get('turn');
if (turn) {
  out.push(`### TURN relay (turnutils_uclient, ${fmt(num(turn.messagesPerSession))} x ${fmt(num(turn.bytes))} B per session)`, '');
  table(['target', 'sessions', 'sent', 'received', 'loss %', 'MB/s', 'x bare coturn'],
    arr(turn.rows).map((r) => [String(r.target), num(r.sessions), num(r.sent), num(r.received), num(r.lossPercent), num(r.mbPerSecond), num(r.ratioToBare)]));
}

const rooms = results.get('rooms');
if (rooms) {
  out.push('### Rooms internals (rooms.bench: 2 workers on the machine NATS + Redis; no peer, our own breakdown)', '');
  table(['subscribers', 'delivered/s', 'client p50 ms', 'client p99 ms', 'server accept->write p50 ms', 'p99 ms'],
    arr(rooms.fanout).map((r) => [num(r.subscribers), num(r.deliveredPerSecond), num(r.clientP50ms), num(r.clientP99ms), num(r.serverP50ms), num(r.serverP99ms)]));
}

const missing = ['compare', 'sha-ceiling', 'pow', 'sigmesh-solver', 'turn', 'rooms'].filter((b) => !results.has(b));
if (missing.length > 0) out.push(`Missing from this run: ${missing.join(', ')}.`);
console.log(out.join('\n'));

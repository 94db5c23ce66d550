/**
 * Where a server process spent its CPU: the V8 `.cpuprofile` files that
 * `node --cpu-prof` writes at exit, reduced to self time per area (our rooms
 * code, libs/shared, koa, the HTTP stack, the store and bus clients, GC...)
 * and the busiest functions. Idle time is left out: percentages are of the
 * time the process was running.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Ordered: the first matching rule names a frame's area. */
const AREAS: [string, (url: string, fn: string) => boolean][] = [
  ['(gc)', (_u, f) => f === '(garbage collector)'],
  ['(idle)', (_u, f) => f === '(idle)'],
  ['(program: native, unattributed)', (_u, f) => f === '(program)' || f === '(root)'],
  ['rooms service', (u) => u.includes('/services/rooms/')],
  ['api service', (u) => u.includes('/services/api/')],
  ['libs/shared pow', (u) => u.includes('/libs/shared/') && u.includes('/pow/')],
  ['libs/shared store', (u) => u.includes('/libs/shared/') && u.includes('/store/')],
  ['libs/shared bus', (u) => u.includes('/libs/shared/') && u.includes('/bus/')],
  ['libs/shared http', (u) => u.includes('/libs/shared/') && u.includes('/http/')],
  ['libs/shared other', (u) => u.includes('/libs/shared/') || u.includes('/apps/')],
  ['koa + middleware deps', (u) => /node_modules\/(koa|@koa|koa-[^/]+|on-finished|ee-first|content-type|type-is|mime-types|accepts|negotiator|statuses|http-errors|cookies|vary|delegates|only|encodeurl|escape-html|fresh|parseurl|destroy|raw-body|iconv-lite|bytes)\//.test(u)],
  ['ioredis', (u) => /node_modules\/(ioredis|redis-parser|@ioredis|denque|standard-as-callback|cluster-key-slot)\//.test(u)],
  ['nats', (u) => u.includes('node_modules/@nats-io/')],
  ['prom-client', (u) => u.includes('node_modules/prom-client/') || u.includes('node_modules/tdigest/')],
  ['pino', (u) => u.includes('node_modules/pino') || u.includes('node_modules/sonic-boom')],
  ['other node_modules', (u) => u.includes('node_modules/')],
  ['node: http', (u) => /^node:(_http|http)/.test(u)],
  ['node: net, streams, timers', (u) => /^node:(net|stream|internal\/streams|internal\/timers|timers|events|internal\/process|internal\/async_hooks)/.test(u)],
  ['node: other', (u) => u.startsWith('node:')],
  ['native (no url)', (u) => u === ''],
];

function areaOf(url: string, fn: string): string {
  for (const [name, test] of AREAS) if (test(url, fn)) return name;
  return 'other';
}

function shortUrl(url: string): string {
  const i = url.search(/\/(services|libs|apps)\//);
  if (i >= 0) return url.slice(i + 1);
  const n = url.lastIndexOf('node_modules/');
  return n >= 0 ? url.slice(n + 'node_modules/'.length) : url;
}

/** Self time per area and the top functions of every profile in `dir`, as printable lines. */
export function summariseProfiles(dir: string, top = 20): string {
  let files: string[];
  try {
    files = readdirSync(dir).filter((f) => f.endsWith('.cpuprofile'));
  } catch {
    return '  (no profile written)';
  }
  const byArea = new Map<string, number>();
  const byFn = new Map<string, number>();
  let busy = 0;
  for (const f of files) {
    const p = JSON.parse(readFileSync(join(dir, f), 'utf8')) as CpuProfile;
    const nodes = new Map(p.nodes.map((n) => [n.id, n]));
    for (let i = 0; i < p.samples.length; i++) {
      const n = nodes.get(p.samples[i] ?? -1);
      const us = p.timeDeltas[i] ?? 0;
      if (n === undefined) continue;
      const { functionName, url, lineNumber } = n.callFrame;
      const area = areaOf(url, functionName);
      if (area === '(idle)') continue;
      busy += us;
      byArea.set(area, (byArea.get(area) ?? 0) + us);
      const key = `${functionName || '(anonymous)'} ${shortUrl(url)}${url !== '' ? `:${lineNumber + 1}` : ''}`;
      byFn.set(key, (byFn.get(key) ?? 0) + us);
    }
  }
  if (busy === 0) return '  (empty profile)';
  const pct = (us: number): string => `${((100 * us) / busy).toFixed(1).padStart(5)} %`;
  const lines = [`  ${files.length} profile(s), ${(busy / 1e6).toFixed(2)} s busy; self time by area:`];
  for (const [a, us] of [...byArea].sort((x, y) => y[1] - x[1])) lines.push(`  ${pct(us)}  ${a}`);
  lines.push(`  top ${top} functions (self time):`);
  for (const [fn, us] of [...byFn].sort((x, y) => y[1] - x[1]).slice(0, top)) lines.push(`  ${pct(us)}  ${fn}`);
  return lines.join('\n');
}

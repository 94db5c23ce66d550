/**
 * The load generator: a separate process driven over IPC by
 * bench/compare.bench.ts. It connects the simulated users (`start`), says
 * `ready`, and on `run` drives traffic: every sender keeps `window`
 * messages in flight and sends the next once the previous one reached all
 * its recipients (closed loop, so no server is flooded past what it can
 * take and every server gets the same treatment). Bounded: a warm-up, a
 * measured period, then a drain with a deadline; loopback only.
 */
import { randomBytes } from 'node:crypto';
import { BODY_BYTES, type ChildMessage, type ParentMessage, type Scenario, type TrafficResult } from './protocol.js';
import { transportFor, type Conn } from './transports.js';
import { openMany } from '../lib/sse.js';
import { quantile, round2, sleep } from '../lib/stats.js';

const DRAIN_MS = 10_000;

function say(m: ChildMessage): void {
  process.send?.(m);
}

const roomHash = (): string => randomBytes(20).toString('hex');
const peerId = (i: number): string => `-BENCH-${String(i).padStart(13, '0')}`;

interface Flow {
  id: number;
  conn: Conn;
  room: string;
  toPeerId?: string;
  recipients: number;
  seq: number;
  inflight: number;
}

interface Pending { sentAt: number; remaining: number; flow: Flow }

class Engine {
  readonly flows: Flow[] = [];
  readonly conns: Conn[] = [];
  private readonly pending = new Map<string, Pending>();
  private sending = false;
  private measuring = false;
  private readonly latencies: number[] = [];
  private delivered = 0;
  private sent = 0;
  private errors = 0;
  private errorSample: string | undefined;
  private lastDelivery = 0;
  private padding: string;

  constructor(private readonly window: number) {
    this.padding = 'x'.repeat(BODY_BYTES);
  }

  /** A recipient got `body`; `self` is the recipient's own flow id (its echoes do not count). */
  receive(body: string, self: number): void {
    const bar = body.indexOf('|');
    if (bar < 0) return;
    const key = body.slice(0, bar);
    if (Number(key.slice(0, key.indexOf('.'))) === self) return;
    const p = this.pending.get(key);
    if (p === undefined) return;
    const now = performance.now();
    if (this.measuring) {
      this.latencies.push(now - p.sentAt);
      this.delivered++;
      this.lastDelivery = now;
    }
    if (--p.remaining === 0) {
      this.pending.delete(key);
      p.flow.inflight--;
      this.fill(p.flow);
    }
  }

  private fill(f: Flow): void {
    while (this.sending && f.inflight < this.window) this.sendOne(f);
  }

  /** A post refused after its send completed (no receipt asked): counted like a refused send. */
  refused(why: string): void {
    this.errors++;
    this.errorSample ??= why.slice(0, 200);
  }

  private sendOne(f: Flow): void {
    const key = `${f.id}.${++f.seq}`;
    const head = `${key}|`;
    const body = head + this.padding.slice(head.length);
    const p: Pending = { sentAt: performance.now(), remaining: f.recipients, flow: f };
    this.pending.set(key, p);
    f.inflight++;
    if (this.measuring) this.sent++;
    f.conn.send(f.room, body, f.toPeerId).catch((err: unknown) => {
      this.errors++;
      this.errorSample ??= err instanceof Error ? err.message.slice(0, 200) : String(err);
      if (this.pending.delete(key)) {
        f.inflight--;
        // Back off a little so a refusing server is not hammered in a tight loop.
        setTimeout(() => this.fill(f), 10);
      }
    });
  }

  async run(warmupSeconds: number, seconds: number): Promise<TrafficResult> {
    this.sending = true;
    for (const f of this.flows) this.fill(f);
    await sleep(warmupSeconds * 1000);
    this.measuring = true;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    this.lastDelivery = t0;
    say({ ev: 'measuring' });
    await sleep(seconds * 1000);
    this.sending = false;
    const deadline = Date.now() + DRAIN_MS;
    while (this.pending.size > 0 && Date.now() < deadline) await sleep(20);
    const cpu = process.cpuUsage(cpu0);
    this.measuring = false;
    this.latencies.sort((a, b) => a - b);
    const secs = (this.lastDelivery - t0) / 1000;
    return {
      delivered: this.delivered,
      sent: this.sent,
      lost: this.pending.size,
      errors: this.errors,
      ...(this.errorSample === undefined ? {} : { errorSample: this.errorSample }),
      seconds: round2(secs),
      p50ms: round2(quantile(this.latencies, 0.5)),
      p99ms: round2(quantile(this.latencies, 0.99)),
      maxms: round2(this.latencies[this.latencies.length - 1] ?? NaN),
      generatorCpuSeconds: round2((cpu.user + cpu.system) / 1e6),
    };
  }
}

let engine: Engine | undefined;
let scenario: Scenario | undefined;
let idleOpenSeconds = 0;
const closers: Conn[] = [];

async function setUp(s: Scenario): Promise<void> {
  // A refusal of a post sent without receipt: an error of the run (its message stays undelivered).
  const t = transportFor(s.target.kind, s.target.ports, (why) => engine?.refused(why));
  if (s.type === 'idle') {
    const rooms = Array.from({ length: Math.ceil(s.connections / 2) }, roomHash);
    const t0 = performance.now();
    closers.push(...await openMany(s.connections, (i) => t.connect({ index: 0, room: rooms[i >> 1] ?? '', peerId: peerId(i), sends: false })));
    idleOpenSeconds = round2((performance.now() - t0) / 1000);
    return;
  }
  const e = new Engine(s.window);
  engine = e;
  if (s.type === 'fanout') {
    if (!t.broadcast) throw new Error('no broadcast: the fan-out workload does not fit this server');
    const room = roomHash();
    closers.push(...await openMany(s.subscribers, (i) => t.connect({
      index: i, room, peerId: peerId(i), onMessage: (b) => e.receive(b, -1),
    })));
    for (let j = 0; j < s.publishers; j++) {
      const conn = await t.connect({ index: j, peerId: peerId(s.subscribers + j) });
      closers.push(conn);
      e.flows.push({ id: j, conn, room, recipients: s.subscribers, seq: 0, inflight: 0 });
    }
  } else {
    const rooms = Array.from({ length: s.pairs }, roomHash);
    const flows = await openMany(s.pairs * 2, async (i): Promise<Flow> => {
      const room = rooms[i >> 1] ?? '';
      const conn = await t.connect({ index: i, room, peerId: peerId(i), onMessage: (b) => e.receive(b, i) });
      closers.push(conn);
      return { id: i, conn, room, toPeerId: peerId(i ^ 1), recipients: 1, seq: 0, inflight: 0 };
    });
    e.flows.push(...flows);
  }
}

process.on('message', (raw: unknown) => {
  const m = raw as ParentMessage;
  void (async () => {
    try {
      if (m.cmd === 'start') {
        scenario = m.scenario;
        await setUp(m.scenario);
        say({ ev: 'ready' });
      } else if (m.cmd === 'run') {
        if (scenario?.type === 'idle') say({ ev: 'result', idle: { connections: scenario.connections, openSeconds: idleOpenSeconds } });
        else if (engine !== undefined && scenario !== undefined) {
          say({ ev: 'result', traffic: await engine.run(scenario.warmupSeconds, scenario.seconds) });
        }
      } else {
        for (const c of closers) c.close();
        process.disconnect?.();
        setTimeout(() => process.exit(0), 100).unref();
      }
    } catch (err) {
      say({ ev: 'error', message: err instanceof Error ? err.message : String(err) });
    }
  })();
});

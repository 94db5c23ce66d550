import type { ServerResponse } from 'node:http';
import { compareLogIds } from '@mesh/shared';
import type { BudgetedStream, BufferBudget } from './budget.js';
import { procPeerKey } from './send-queue.js';

/** Why the server closed a stream (metric label of `room_streams_dropped_total`). */
export type DropReason = 'slow' | 'shutdown';

/** A message ready to write: framed once per worker, shared by every stream of the room. */
export interface FramedMessage {
  id: string;
  frame: string;
  /** Accept time (ms since epoch) on the posting worker, for the fan-out latency. */
  at: number;
  /** Sent after a higher id (see SequencedMessage): written without its `id:` line. */
  late?: boolean | undefined;
  /** The poster's peer id: not written to its own streams. */
  from?: string | undefined;
}

export interface RoomStreamOptions {
  hash: string;
  ip: string;
  /** The client's peer id (`?peer=`): live messages it posted with the same id are not echoed. */
  peer?: string | undefined;
  res: ServerResponse;
  /** Unwritten bytes (socket buffer + resume buffer) above which the reader is dropped: a memory bound. */
  maxBufferBytes: number;
  /** The worker's budget of unwritten bytes, shared by all its streams. */
  budget: BufferBudget;
  /** True while history is being replayed: live messages wait in a bounded buffer. */
  resuming: boolean;
  /** Called once after the stream closed, for whatever reason (server or client). */
  onClose(stream: RoomStream, reason: DropReason | undefined): void;
  /** Called for every message written to this stream. */
  onWritten(msg: FramedMessage): void;
}

/**
 * One open SSE response. Live messages reach it through `deliver`; while a
 * resume replays history they are held (bounded) and flushed by `goLive`
 * past the last replayed id, so the reader sees no gap and no duplicate.
 * A reader that does not keep up is dropped, never buffered without bound:
 * `res.write()` returning false is fine (the stream is stalled until `drain`),
 * staying stalled too long (the service's sweep), `writableLength` past the
 * bound, or being the stalest when the worker's budget is full is not.
 */
export class RoomStream implements BudgetedStream {
  readonly hash: string;
  readonly ip: string;
  private readonly res: ServerResponse;
  private readonly opts: RoomStreamOptions;
  private resuming: boolean;
  private closed = false;
  /** Live messages at or below this id were already sent (from history). */
  private floorId: string | null = null;
  private held: FramedMessage[] = [];
  private heldBytes = 0;
  /** This stream's share of the budget, as last reported. */
  private accounted = 0;
  /** Since when `write` was refused and no `drain` came (bytes stuck in user space). */
  private stalledAt: number | undefined;
  /** Since when the peer acknowledged nothing while the kernel held our bytes (bytes stuck in the kernel). */
  private ackStalledAt: number | undefined;
  /** The kernel's send queue of this connection at the last sample. */
  private kernelQueued = 0;
  /** Bytes the peer acknowledged (as of the last sample): progress means it reads. */
  private acked = 0;
  private drainWaiters: (() => void)[] = [];
  private readonly onDrain = (): void => this.drained();
  private peerCache: { key: string; localPort: number } | undefined;

  constructor(opts: RoomStreamOptions) {
    this.opts = opts;
    this.hash = opts.hash;
    this.ip = opts.ip;
    this.res = opts.res;
    this.resuming = opts.resuming;
    // The client went away (or the socket failed): clean up without noise.
    this.res.once('close', () => this.finish(undefined));
    this.res.on('error', () => this.finish(undefined));
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /**
   * Since when this reader's bytes stay undrained: `write` refused without a
   * `drain` since, or the kernel holding bytes the peer does not acknowledge.
   */
  get stalledSince(): number | undefined {
    if (this.stalledAt === undefined) return this.ackStalledAt;
    if (this.ackStalledAt === undefined) return this.stalledAt;
    return Math.min(this.stalledAt, this.ackStalledAt);
  }

  /** Where the kernel lists this connection (its local port, the peer as /proc writes it); undefined without a socket. */
  get peer(): { key: string; localPort: number } | undefined {
    if (this.peerCache !== undefined) return this.peerCache;
    const sock = this.res.socket;
    if (!sock || sock.remoteAddress === undefined || sock.remotePort === undefined || sock.localPort === undefined) {
      return undefined;
    }
    const key = procPeerKey(sock.remoteAddress, sock.remotePort);
    if (key === undefined) return undefined;
    return (this.peerCache = { key, localPort: sock.localPort });
  }

  /**
   * The kernel's send queue of this connection, sampled by the service's
   * sweep: it counts toward the worker's budget, and a queue the peer does not
   * acknowledge any of marks the reader stalled.
   */
  noteKernelQueue(queued: number, now: number): void {
    const sock = this.res.socket;
    if (this.closed || !sock) return;
    const queuedBefore = this.kernelQueued;
    this.kernelQueued = queued;
    // Handed to the kernel minus what it still holds: what the peer acknowledged.
    const acked = sock.bytesWritten - sock.writableLength - queued;
    // Stalled only when bytes queued at the last sample are still not acknowledged
    // (bytes written since then may simply be in flight).
    if (queued === 0 || queuedBefore === 0 || acked > this.acked) {
      this.acked = acked;
      this.ackStalledAt = undefined;
      if (this.stalledAt === undefined) this.opts.budget.unstall(this);
    } else if (this.ackStalledAt === undefined) {
      this.ackStalledAt = now;
      this.opts.budget.stall(this);
    }
    this.report();
  }

  /** Unwritten bytes of this stream (user space and kernel), as last reported to the budget. */
  get bufferedBytes(): number {
    return this.accounted;
  }

  /** Writes a frame as is (retry, price, keep-alive, history). False once closed. */
  write(frame: string): boolean {
    if (this.closed) return false;
    if (!this.res.write(frame) && this.stalledAt === undefined) {
      this.stalledAt = Date.now();
      this.res.once('drain', this.onDrain);
      if (this.ackStalledAt === undefined) this.opts.budget.stall(this);
    }
    return this.judge();
  }

  /** Resolves once the socket drained what it holds (at once when not stalled), or the stream closed. */
  whenDrained(): Promise<void> {
    if (this.closed || this.stalledAt === undefined) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  /** Reports this stream's unwritten bytes to the budget again (partial drains emit no event). */
  resample(): void {
    if (this.closed) return;
    this.report();
  }

  /** Bytes in user space: the socket's buffer and what a resume holds back. */
  private get userBytes(): number {
    return this.res.writableLength + this.heldBytes;
  }

  private report(): void {
    const now = this.userBytes + this.kernelQueued;
    this.opts.budget.adjust(now - this.accounted);
    this.accounted = now;
  }

  /**
   * After bytes were added: past the stream's bound in user space it is
   * dropped (the kernel's share is not held against it: a fast reader on a
   * long link keeps much in flight); then the worker's budget is enforced.
   */
  private judge(): boolean {
    this.report();
    if (this.userBytes > this.opts.maxBufferBytes) {
      this.close('slow');
      return false;
    }
    this.opts.budget.enforce();
    return !this.closed;
  }

  private drained(): void {
    this.stalledAt = undefined;
    if (this.ackStalledAt === undefined || this.closed) this.opts.budget.unstall(this);
    if (!this.closed) this.report();
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const w of waiters) w();
  }

  /** A live message of this room. */
  deliver(msg: FramedMessage): void {
    if (this.closed || (msg.from !== undefined && msg.from === this.opts.peer)) return;
    if (this.resuming) {
      this.held.push(msg);
      this.heldBytes += Buffer.byteLength(msg.frame);
      this.judge();
      return;
    }
    // The feed sends a room's messages in history order; only a resume's replay can have sent one already.
    if (this.floorId !== null && compareLogIds(msg.id, this.floorId) <= 0) return;
    // A late one keeps the reader's Last-Event-ID at the highest id it has, so a resume does not send it again.
    const frame = msg.late === true ? msg.frame.slice(msg.frame.indexOf('\n') + 1) : msg.frame;
    if (!this.write(frame)) return;
    this.opts.onWritten(msg);
  }

  /** A replayed history entry (sent while resuming, ahead of held live messages). */
  replay(msg: FramedMessage): boolean {
    if (!this.write(msg.frame)) return false;
    this.floorId = msg.id;
    return true;
  }

  /**
   * Ends the replay: `afterId` is the Last-Event-ID the client sent, raised by
   * every replayed entry; held live messages above it go out, in arrival order.
   */
  goLive(afterId: string | null): void {
    if (this.closed) return;
    if (afterId !== null && (this.floorId === null || compareLogIds(afterId, this.floorId) > 0)) this.floorId = afterId;
    const held = this.held;
    this.held = [];
    this.heldBytes = 0;
    this.resuming = false;
    this.report();
    for (const msg of held) this.deliver(msg);
  }

  /**
   * Server-side close: `slow` cuts the socket; otherwise the response ends
   * gracefully (flushes). Without a reason it is not counted as a drop (the
   * client simply reconnects and resumes).
   */
  close(reason?: DropReason): void {
    if (this.closed) return;
    // Record the reason first: the response may emit 'close' synchronously.
    this.finish(reason);
    if (reason === 'slow') {
      // A reset, not a FIN: closed with data queued, the socket would linger as an
      // orphan holding its kernel send queue until the peer that does not read reads.
      const sock = this.res.socket;
      if (sock?.destroyed === false) sock.resetAndDestroy();
      this.res.destroy();
    }
    else this.res.end();
  }

  private finish(reason: DropReason | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.held = [];
    this.heldBytes = 0;
    this.opts.budget.adjust(-this.accounted);
    this.accounted = 0;
    this.res.off('drain', this.onDrain);
    this.drained();
    this.opts.onClose(this, reason);
  }
}

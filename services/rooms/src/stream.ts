import type { ServerResponse } from 'node:http';
import { compareLogIds } from '@mesh/shared';

/** Why the server closed a stream (metric label of `room_streams_dropped_total`). */
export type DropReason = 'slow' | 'shutdown';

/** A message ready to write: framed once per worker, shared by every stream of the room. */
export interface FramedMessage {
  id: string;
  frame: string;
  /** Accept time (ms since epoch) on the posting worker, for the fan-out latency. */
  at: number;
}

export interface RoomStreamOptions {
  hash: string;
  ip: string;
  res: ServerResponse;
  /** Unwritten bytes (socket buffer + resume buffer) above which the reader is dropped. */
  maxBufferBytes: number;
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
 * `res.write()` returning false is fine, `writableLength` past the bound is not.
 */
export class RoomStream {
  readonly hash: string;
  readonly ip: string;
  private readonly res: ServerResponse;
  private readonly opts: RoomStreamOptions;
  private resuming: boolean;
  private closed = false;
  /** Live messages at or below this id were already sent (from history). */
  private floorId: string | null = null;
  /** Highest message id written: the reader's Last-Event-ID. */
  private lastId: string | null = null;
  private held: FramedMessage[] = [];
  private heldBytes = 0;

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

  /** Writes a frame as is (retry, price, keep-alive, history). False once closed. */
  write(frame: string): boolean {
    if (this.closed) return false;
    this.res.write(frame);
    if (this.res.writableLength + this.heldBytes > this.opts.maxBufferBytes) {
      this.close('slow');
      return false;
    }
    return true;
  }

  /** A live message of this room. */
  deliver(msg: FramedMessage): void {
    if (this.closed) return;
    if (this.resuming) {
      this.held.push(msg);
      this.heldBytes += msg.frame.length;
      if (this.res.writableLength + this.heldBytes > this.opts.maxBufferBytes) this.close('slow');
      return;
    }
    if (this.floorId !== null && compareLogIds(msg.id, this.floorId) <= 0) return;
    // Posts made on two workers at once can cross on the bus. The later-arriving
    // lower id goes out without its `id:` line, so the reader's Last-Event-ID
    // stays at the highest id it has and a resume does not send it again.
    const late = this.lastId !== null && compareLogIds(msg.id, this.lastId) < 0;
    const frame = late ? msg.frame.slice(msg.frame.indexOf('\n') + 1) : msg.frame;
    if (!this.write(frame)) return;
    if (!late) this.lastId = msg.id;
    this.opts.onWritten(msg);
  }

  /** A replayed history entry (sent while resuming, ahead of held live messages). */
  replay(msg: FramedMessage): boolean {
    if (!this.write(msg.frame)) return false;
    this.floorId = msg.id;
    this.lastId = msg.id;
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
    if (reason === 'slow') this.res.destroy();
    else this.res.end();
  }

  private finish(reason: DropReason | undefined): void {
    if (this.closed) return;
    this.closed = true;
    this.held = [];
    this.heldBytes = 0;
    this.opts.onClose(this, reason);
  }
}

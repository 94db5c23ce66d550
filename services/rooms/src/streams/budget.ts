/** What the budget needs of a stream: when it stalled, and a way to drop it. */
export interface BudgetedStream {
  /** When its bytes stopped draining (ms since epoch); undefined while it keeps up. */
  readonly stalledSince: number | undefined;
  close(reason: 'slow'): void;
}

/**
 * The worker's budget of unwritten bytes, over all its streams (socket
 * buffers in user space plus what resuming streams hold back). Streams report
 * their own share (user space on every write, the kernel's send queue when
 * sampled); when the budget is full the stalest readers (undrained for the
 * longest) are dropped first. Only stalled streams are ever dropped here.
 */
export class BufferBudget {
  private total = 0;
  private peakTotal = 0;
  private readonly stalled = new Set<BudgetedStream>();

  constructor(private readonly limitBytes: number) {}

  /** A stream's share changed by `delta` bytes. */
  adjust(delta: number): void {
    this.total += delta;
  }

  stall(s: BudgetedStream): void {
    this.stalled.add(s);
  }

  unstall(s: BudgetedStream): void {
    this.stalled.delete(s);
  }

  /** Over the limit: drops stalled readers, stalest first, until back within (or none is left). */
  enforce(): void {
    if (this.total > this.limitBytes) {
      const stalest = [...this.stalled].sort((x, y) => (x.stalledSince ?? Infinity) - (y.stalledSince ?? Infinity));
      for (const s of stalest) {
        if (this.total <= this.limitBytes) break;
        s.close('slow'); // removes itself from the set and the total
      }
    }
    if (this.total > this.peakTotal) this.peakTotal = this.total;
  }

  /** Drops every reader stalled since `before` or earlier (its bytes stayed undrained too long). */
  dropStalledSince(before: number): void {
    for (const s of [...this.stalled]) {
      if (s.stalledSince !== undefined && s.stalledSince <= before) s.close('slow');
    }
  }

  /** Unwritten bytes of the worker's streams, as last reported. */
  get bytes(): number {
    return this.total;
  }

  /**
   * Highest total seen after enforcing the limit. It can pass the limit: a
   * kernel sample may find bytes of streams not (yet) known to be stalled.
   */
  get peakBytes(): number {
    return this.peakTotal;
  }

  get stalledCount(): number {
    return this.stalled.size;
  }
}

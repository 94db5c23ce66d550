/**
 * Discovery of mesh nodes: starts from seeds, learns more from each node's `/nodes`,
 * probes every node's `GET /` for its id and price, remembers good ones in storage and
 * drops dead ones.
 */
import { Emitter } from './emitter.js';
import { NodeClient, normalizeNodeUrl, type NodeClientOptions, type NodeInfo } from './node-client.js';
import { defaultStorage, type StorageAdapter } from './storage.js';

export interface KnownNode {
  url: string;
  /** From `GET /`; set once the node answered. */
  info?: NodeInfo;
  /** Given by the application; kept even while dead (retried on every refresh). */
  seed: boolean;
  /** Failures in a row (probes, streams, posts). */
  failures: number;
  lastOkMs?: number;
}

/** A node that answered its last probe: what node choice works with. */
export interface LiveNode {
  url: string;
  id: string;
  difficulty: number;
  info: NodeInfo;
}

export interface DiscoveryOptions {
  seeds: string[];
  storage?: StorageAdapter;
  storageKey?: string;
  /** Only nodes of this network (40 hex); default: the network of the first seed that answers. */
  network?: string;
  /** Nodes kept at most. Default 64. */
  maxNodes?: number;
  /** A non-seed node is dropped after this many failures in a row. Default 3. */
  maxFailures?: number;
  /** How many live nodes are asked for `/nodes` per refresh. Default 3. */
  fanout?: number;
  /** Passed to every NodeClient (fetch, solver, timeouts). */
  client?: NodeClientOptions;
}

interface StoredNode {
  url: string;
  lastOkMs: number;
}

export class Discovery extends Emitter<{ change: LiveNode[] }> {
  private readonly nodes = new Map<string, KnownNode>();
  private readonly clients = new Map<string, NodeClient>();
  private readonly storage: StorageAdapter;
  private readonly storageKey: string;
  private readonly maxNodes: number;
  private readonly maxFailures: number;
  private readonly fanout: number;
  private network: string | undefined;
  private loaded = false;
  private refreshing: Promise<void> | null = null;

  constructor(private readonly opts: DiscoveryOptions) {
    super();
    this.storage = opts.storage ?? defaultStorage();
    this.storageKey = opts.storageKey ?? 'sigmesh.nodes.v1';
    this.maxNodes = opts.maxNodes ?? 64;
    this.maxFailures = opts.maxFailures ?? 3;
    this.fanout = opts.fanout ?? 3;
    this.network = opts.network;
    for (const s of opts.seeds) {
      const url = normalizeNodeUrl(s);
      if (url) this.nodes.set(url, { url, seed: true, failures: 0 });
    }
  }

  /** Every node currently known, dead or alive. */
  known(): KnownNode[] {
    return [...this.nodes.values()];
  }

  /** Nodes that answered their last probe and whose last contact did not fail. */
  live(): LiveNode[] {
    const out: LiveNode[] = [];
    for (const n of this.nodes.values()) {
      if (n.info && n.failures === 0) out.push({ url: n.url, id: n.info.id, difficulty: n.info.difficulty, info: n.info });
    }
    return out;
  }

  client(url: string): NodeClient {
    let c = this.clients.get(url);
    if (!c) this.clients.set(url, (c = new NodeClient(url, this.opts.client)));
    return c;
  }

  /** Something using the node failed (stream, post): count it, drop the node when dead. */
  reportFailure(url: string): void {
    const n = this.nodes.get(url);
    if (!n) return;
    n.failures++;
    if (!n.seed && n.failures >= this.maxFailures) this.remove(url);
    this.changed();
  }

  reportSuccess(url: string): void {
    const n = this.nodes.get(url);
    if (!n) return;
    const wasDown = n.failures > 0;
    n.failures = 0;
    n.lastOkMs = Date.now();
    if (wasDown && n.info) this.changed();
  }

  /** Probes every known node and asks live ones for more; one refresh runs at a time. */
  refresh(signal?: AbortSignal): Promise<void> {
    this.refreshing ??= this.doRefresh(signal).finally(() => { this.refreshing = null; });
    return this.refreshing;
  }

  private async doRefresh(signal?: AbortSignal): Promise<void> {
    if (!this.loaded) await this.load();
    await this.probe([...this.nodes.keys()], signal);
    const live = this.live();
    const askers = shuffle(live).slice(0, this.fanout);
    const learned = await Promise.all(askers.map((n) => this.client(n.url).nodes(20, signal).catch(() => [] as string[])));
    const fresh: string[] = [];
    for (const raw of learned.flat()) {
      const url = normalizeNodeUrl(raw);
      if (!url || this.nodes.has(url) || this.nodes.size >= this.maxNodes) continue;
      this.nodes.set(url, { url, seed: false, failures: 0 });
      fresh.push(url);
    }
    if (fresh.length) await this.probe(fresh, signal);
    await this.save();
    this.changed();
  }

  private async probe(urls: string[], signal?: AbortSignal): Promise<void> {
    await Promise.all(urls.map(async (url) => {
      const node = this.nodes.get(url);
      if (!node) return;
      try {
        const info = await this.client(url).info(signal);
        this.accept(node, info);
      } catch {
        if (signal?.aborted) return;
        node.failures++;
        // Never-seen nodes get no second chance: a hostile /nodes could list junk.
        const neverOk = node.lastOkMs === undefined;
        if (!node.seed && (neverOk || node.failures >= this.maxFailures)) this.remove(url);
      }
    }));
  }

  private accept(node: KnownNode, info: NodeInfo): void {
    if (!this.network && node.seed && info.network) this.network = info.network;
    if (this.network && info.network && info.network !== this.network) {
      // Another mesh: not ours to use.
      if (!node.seed) this.remove(node.url);
      else node.failures++;
      return;
    }
    // The same node reached under two URLs: keep one entry (a seed if either is).
    for (const other of this.nodes.values()) {
      if (other !== node && other.info?.id === info.id) {
        if (node.seed || !other.seed) this.remove(other.url);
        else { this.remove(node.url); return; }
      }
    }
    node.info = info;
    node.failures = 0;
    node.lastOkMs = Date.now();
  }

  private remove(url: string): void {
    this.nodes.delete(url);
    this.clients.delete(url);
  }

  private async load(): Promise<void> {
    this.loaded = true;
    let raw: string | null = null;
    try { raw = await this.storage.get(this.storageKey); } catch { raw = null; }
    if (!raw) return;
    let stored: unknown;
    try { stored = JSON.parse(raw); } catch { return; }
    if (!Array.isArray(stored)) return;
    for (const s of stored.slice(0, this.maxNodes)) {
      const url = typeof s === 'object' && s && typeof (s as StoredNode).url === 'string' ? normalizeNodeUrl((s as StoredNode).url) : null;
      if (!url || this.nodes.has(url) || this.nodes.size >= this.maxNodes) continue;
      const lastOkMs = Number((s as StoredNode).lastOkMs);
      this.nodes.set(url, { url, seed: false, failures: 0, ...(Number.isFinite(lastOkMs) ? { lastOkMs } : {}) });
    }
  }

  private async save(): Promise<void> {
    const good: StoredNode[] = [...this.nodes.values()]
      .filter((n) => n.info && n.failures === 0 && n.lastOkMs !== undefined)
      .sort((a, b) => (b.lastOkMs ?? 0) - (a.lastOkMs ?? 0))
      .slice(0, this.maxNodes)
      .map((n) => ({ url: n.url, lastOkMs: n.lastOkMs ?? 0 }));
    try { await this.storage.set(this.storageKey, JSON.stringify(good)); } catch { /* storage is best effort */ }
  }

  private changed(): void {
    this.emit('change', this.live());
  }
}

function shuffle<T>(xs: T[]): T[] {
  const a = [...xs];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j]!, a[i]!];
  }
  return a;
}

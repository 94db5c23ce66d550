import { createHash } from 'node:crypto';
import { parseCidr } from './net/cidr.js';

/**
 * The one typed configuration of a node, parsed once from environment
 * variables at start. Nothing else in the code base reads `process.env`.
 * Every setting has a default that works embedded; the README lists them.
 */
export interface Config {
  /** Which process this is: one service, or the embedded node hosting all four. */
  service: ServiceName;
  port: number;
  host: string;
  publicUrl: string;
  /** HMAC key of PoW tokens; generated once and kept in the store when unset. */
  nodeSecret: string | undefined;
  /** HMAC key of TURN REST credentials; generated once and kept in the store when unset. */
  turnSecret: string | undefined;
  natsUrl: string | undefined;
  redisUrl: string | undefined;
  /** Prefixes every store key, so several nodes or test runs can share one Redis. */
  storePrefix: string;
  /** Prefixes every bus subject (`<prefix>.rooms.<hash>`); empty for none. */
  busPrefix: string;
  logLevel: LogLevel;
  metricsPort: number;
  metricsHost: string;
  /** CIDRs whose X-Forwarded-For is believed. */
  trustProxy: string[];
  /** Per-client caps count an IPv6 client by this prefix (one subscriber commonly holds a /64). */
  clientIpv6Prefix: number;
  /** Open connections (keep-alive and streams) per client address; trusted proxies are exempt. */
  maxConnectionsPerClient: number;
  pow: PowConfig;
  room: RoomConfig;
  dht: DhtConfig;
  turn: TurnConfig;
  loadSampleMs: number;
  /** Load below this (cpu or mem share) is an idle process's own noise and reads 0; above it, rescaled to 0..1. */
  loadNoiseFloor: number;
  /** Per-client-address request limit of the public port. */
  rateLimit: RateLimitSettings;
  version: string;
}

export interface RateLimitSettings {
  /** Sustained requests per second per address (IPv6: per /64); 0 turns the limit off. */
  perSecond: number;
  burst: number;
  /** Addresses tracked at most; the least recently seen is forgotten first. */
  maxClients: number;
  /** A refusal is answered after this long (Retry-After); a client that ignores it gets one per hold. */
  holdMs: number;
}

export type ServiceName = 'api' | 'rooms' | 'dht' | 'turn' | 'embedded';
export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

export interface PowConfig {
  baseWork: number;
  loadFactor: number;
  roomFree: number;
  tokenFactor: number;
  dhtPutFactor: number;
  slack: number;
  tokenTtlSeconds: number;
  rotationSeconds: number;
}

export interface RoomConfig {
  maxPerIp: number;
  maxStreams: number;
  historyMax: number;
  historySeconds: number;
  keepAliveMs: number;
  retryMs: number;
  /** A stream whose unwritten bytes exceed this is dropped (slow reader): a memory bound. */
  maxBufferBytes: number;
  /** A stream whose bytes stay undrained this long is dropped (slow reader). */
  slowReaderMs: number;
  /** Unwritten bytes of all streams of a worker; past it the stalest readers are dropped. */
  maxBufferedTotalBytes: number;
  maxBodyBytes: number;
}

export interface DhtConfig {
  port: number;
  host: string;
  /** `host:port` list; empty means isolated (`DHT_BOOTSTRAP=none`). */
  bootstrap: string[];
  network: string;
  /** SHA-1 of `network`, 40 hex: the infohash nodes announce under. */
  infohash: string;
  /** Accept `http://` node URLs (MESH_ALLOW_INSECURE); says nothing about which addresses may be probed. */
  allowInsecure: boolean;
  /**
   * Canonical CIDRs exempt from the probe's special-address guard
   * (MESH_ALLOWED_PEERS): loopback, private and link-local peers are
   * probed only inside these ranges.
   */
  allowedPeers: string[];
  /** Port announced under the infohash: the public HTTP port of this node. */
  announcePort: number;
  lookupIntervalMs: number;
  maxNodes: number;
  probeTimeoutMs: number;
  requestTimeoutMs: number;
}

export type TurnBackendName = 'auto' | 'coturn' | 'node-turn' | 'none';

export interface TurnConfig {
  port: number;
  backend: TurnBackendName;
  realm: string;
  /** Host name put into `stun:`/`turn:` urls; from PUBLIC_URL by default. */
  publicHost: string;
  listenHost: string;
  relayMinPort: number;
  relayMaxPort: number;
  allowedPeers: string[];
  credentialTtlSeconds: number;
  userQuota: number;
  totalQuota: number;
  /**
   * Outstanding `/token` credentials per client address (per /64 for IPv6);
   * by default as many as keep one address at 10 % of totalQuota.
   */
  credentialsPerClient: number;
  maxBps: number;
  /** Internal port of coturn's Prometheus exporter. */
  promPort: number;
}

export const DEFAULT_BOOTSTRAP = [
  'router.bittorrent.com:6881',
  'router.utorrent.com:6881',
  'dht.transmissionbt.com:6881',
];

const METRICS_PORTS: Record<ServiceName, number> = {
  embedded: 9100, api: 9101, rooms: 9102, dht: 9103, turn: 9104,
};

/** Raised at start for a bad setting; names the variable. */
export class ConfigError extends Error {
  constructor(readonly variable: string, message: string) {
    super(`${variable}: ${message}`);
    this.name = 'ConfigError';
  }
}

type Env = Readonly<Record<string, string | undefined>>;

class Reader {
  constructor(private readonly env: Env) {}

  raw(name: string): string | undefined {
    const v = this.env[name];
    return v === undefined || v.trim() === '' ? undefined : v.trim();
  }

  string(name: string, def: string): string {
    return this.raw(name) ?? def;
  }

  optional(name: string): string | undefined {
    return this.raw(name);
  }

  int(name: string, def: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return def;
    if (!/^-?\d+$/.test(v)) throw new ConfigError(name, `expected an integer, got "${v}"`);
    const n = Number(v);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  port(name: string, def: number): number {
    return this.int(name, def, 0, 65535);
  }

  number(name: string, def: number, min: number, max: number): number {
    const v = this.raw(name);
    if (v === undefined) return def;
    const n = Number(v);
    if (!Number.isFinite(n)) throw new ConfigError(name, `expected a number, got "${v}"`);
    if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
    return n;
  }

  bool(name: string, def: boolean): boolean {
    const v = this.raw(name);
    if (v === undefined) return def;
    if (/^(1|true|yes|on)$/i.test(v)) return true;
    if (/^(0|false|no|off)$/i.test(v)) return false;
    throw new ConfigError(name, `expected true or false, got "${v}"`);
  }

  oneOf<T extends string>(name: string, def: T, allowed: readonly T[]): T {
    const v = this.raw(name);
    if (v === undefined) return def;
    if (!(allowed as readonly string[]).includes(v)) {
      throw new ConfigError(name, `expected one of ${allowed.join(', ')}, got "${v}"`);
    }
    return v as T;
  }

  list(name: string, def: string[]): string[] {
    const v = this.raw(name);
    if (v === undefined) return def;
    return v.split(',').map((s) => s.trim()).filter((s) => s !== '');
  }

  url(name: string, def: string, protocols: string[]): string {
    const v = this.raw(name) ?? def;
    let u: URL;
    try {
      u = new URL(v);
    } catch {
      // The text may carry a password (NATS_URL, REDIS_URL): never quoted.
      throw new ConfigError(name, 'not a URL');
    }
    if (!protocols.includes(u.protocol)) {
      throw new ConfigError(name, `expected a ${protocols.join(' or ')} URL, got "${u.protocol}//${u.host}"`);
    }
    return v;
  }
}

const HOST_PORT = /^(\[[0-9a-fA-F:]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** The one CIDR parser (net/cidr.ts) decides, so what passes here also loads later. */
function checkCidrs(name: string, cidrs: string[]): string[] {
  for (const c of cidrs) {
    try {
      if (!c.includes('/')) throw new TypeError('no prefix length');
      parseCidr(c);
    } catch {
      throw new ConfigError(name, `not a CIDR (address/bits): "${c}"`);
    }
  }
  return cidrs;
}

/** SHA-1 hex of the mesh network name: the DHT infohash (PROTOCOL.md `network`). */
export function networkInfohash(network: string): string {
  return createHash('sha1').update(network, 'utf8').digest('hex');
}

/**
 * Parses the environment into a Config. Throws ConfigError naming the first
 * invalid variable. `service` picks per-service defaults (the metrics port).
 */
export function parseConfig(env: Env, service: ServiceName = 'embedded'): Config {
  const r = new Reader(env);
  const port = r.port('PORT', 8080);
  const publicUrl = r.url('PUBLIC_URL', `http://localhost:${port}`, ['http:', 'https:']).replace(/\/+$/, '');
  const pub = new URL(publicUrl);
  // Announced to the whole mesh and put in pages: no credentials, query or fragment.
  if (pub.username !== '' || pub.password !== '' || pub.search !== '' || pub.hash !== '') {
    throw new ConfigError('PUBLIC_URL', `must be scheme://host[:port][/path] without credentials, query or fragment, got "${publicUrl}"`);
  }
  const publicPort = pub.port !== '' ? Number(pub.port) : pub.protocol === 'https:' ? 443 : 80;

  const bootstrapRaw = r.raw('DHT_BOOTSTRAP');
  let bootstrap: string[];
  if (bootstrapRaw === undefined) bootstrap = DEFAULT_BOOTSTRAP;
  else if (bootstrapRaw.toLowerCase() === 'none') bootstrap = [];
  else {
    bootstrap = r.list('DHT_BOOTSTRAP', []);
    for (const b of bootstrap) {
      const m = HOST_PORT.exec(b);
      if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) {
        throw new ConfigError('DHT_BOOTSTRAP', `expected host:port entries or "none", got "${b}"`);
      }
    }
  }

  const network = r.string('MESH_NETWORK', 'webrtc-signaling-mesh');
  const natsUrl = r.optional('NATS_URL');
  if (natsUrl !== undefined) r.url('NATS_URL', natsUrl, ['nats:', 'tls:', 'ws:', 'wss:']);
  const redisUrl = r.optional('REDIS_URL');
  if (redisUrl !== undefined) r.url('REDIS_URL', redisUrl, ['redis:', 'rediss:']);

  const userQuota = r.int('TURN_USER_QUOTA', 10, 1, 1e6);
  const totalQuota = r.int('TURN_TOTAL_QUOTA', 1000, 1, 1e7);
  const relayMinPort = r.port('TURN_RELAY_MIN_PORT', 49152);
  const relayMaxPort = r.port('TURN_RELAY_MAX_PORT', 65535);
  if (relayMaxPort < relayMinPort) {
    throw new ConfigError('TURN_RELAY_MAX_PORT', `must be >= TURN_RELAY_MIN_PORT (${relayMinPort})`);
  }

  const nodeSecret = r.optional('NODE_SECRET');
  if (nodeSecret !== undefined && nodeSecret.length < 16) {
    throw new ConfigError('NODE_SECRET', 'must be at least 16 characters');
  }
  const turnSecret = r.optional('TURN_SECRET');
  if (turnSecret !== undefined && turnSecret.length < 16) {
    throw new ConfigError('TURN_SECRET', 'must be at least 16 characters');
  }
  const rotationSeconds = r.int('POW_TOKEN_ROTATION', 60, 1, 86400);

  return {
    service,
    port,
    host: r.string('HOST', '0.0.0.0'),
    publicUrl,
    nodeSecret,
    turnSecret,
    natsUrl,
    redisUrl,
    storePrefix: r.string('STORE_PREFIX', 'mesh:'),
    busPrefix: checkSubjectPrefix(r.raw('BUS_PREFIX') ?? ''),
    logLevel: r.oneOf('LOG_LEVEL', 'info', ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const),
    metricsPort: r.port('METRICS_PORT', METRICS_PORTS[service]),
    metricsHost: r.string('METRICS_HOST', '127.0.0.1'),
    trustProxy: checkCidrs('TRUST_PROXY', r.list('TRUST_PROXY', ['127.0.0.0/8', '::1/128'])),
    clientIpv6Prefix: r.int('CLIENT_IPV6_PREFIX', 64, 16, 128),
    maxConnectionsPerClient: r.int('HTTP_MAX_CONNECTIONS_PER_CLIENT', 64, 1, 1e6),
    pow: {
      baseWork: r.int('POW_BASE_WORK', 4096, 1, 2 ** 40),
      loadFactor: r.number('POW_LOAD_FACTOR', 255, 0, 1e6),
      roomFree: r.number('POW_ROOM_FREE', 30, 1, 1e9),
      tokenFactor: r.number('POW_TOKEN_FACTOR', 16, 1, 1e6),
      dhtPutFactor: r.number('POW_DHT_PUT_FACTOR', 4, 1, 1e6),
      slack: r.number('POW_SLACK', 0.25, 0, 0.99),
      tokenTtlSeconds: r.int('POW_TOKEN_TTL', 300, rotationSeconds, 86400),
      rotationSeconds,
    },
    room: {
      maxPerIp: r.int('ROOM_MAX_PER_IP', 32, 1, 1e6),
      maxStreams: r.int('ROOM_MAX_STREAMS', 20000, 1, 1e7),
      historyMax: r.int('ROOM_HISTORY_MAX', 100, 1, 10000),
      historySeconds: r.int('ROOM_HISTORY_SECONDS', 120, 60, 86400),
      keepAliveMs: r.int('ROOM_KEEPALIVE_MS', 15000, 100, 15000),
      retryMs: r.int('ROOM_RETRY_MS', 2000, 100, 60000),
      maxBufferBytes: r.int('ROOM_MAX_BUFFER_BYTES', 256 * 1024, 1024, 64 * 1024 * 1024),
      slowReaderMs: r.int('ROOM_SLOW_READER_MS', 10_000, 100, 600_000),
      maxBufferedTotalBytes: r.int('ROOM_MAX_BUFFERED_TOTAL_BYTES', 64 * 1024 * 1024, 64 * 1024, 2 ** 40),
      maxBodyBytes: 1024,
    },
    dht: {
      port: r.port('DHT_PORT', 6881),
      host: r.string('DHT_HOST', '0.0.0.0'),
      bootstrap,
      network,
      infohash: networkInfohash(network),
      allowInsecure: r.bool('MESH_ALLOW_INSECURE', false),
      allowedPeers: checkCidrs('MESH_ALLOWED_PEERS', r.list('MESH_ALLOWED_PEERS', [])).map((c) => parseCidr(c).text),
      announcePort: r.port('DHT_ANNOUNCE_PORT', publicPort),
      lookupIntervalMs: r.int('DHT_LOOKUP_INTERVAL_MS', 5 * 60_000, 100, 86_400_000),
      maxNodes: r.int('MESH_MAX_NODES', 1000, 1, 100000),
      probeTimeoutMs: r.int('MESH_PROBE_TIMEOUT_MS', 3000, 100, 60000),
      requestTimeoutMs: r.int('DHT_REQUEST_TIMEOUT_MS', 8000, 100, 60000),
    },
    turn: {
      port: r.port('TURN_PORT', 3478),
      backend: r.oneOf('TURN_BACKEND', 'auto', ['auto', 'coturn', 'node-turn', 'none'] as const),
      realm: r.string('TURN_REALM', pub.hostname),
      publicHost: r.string('TURN_PUBLIC_HOST', pub.hostname),
      listenHost: r.string('TURN_LISTEN_HOST', '0.0.0.0'),
      relayMinPort,
      relayMaxPort,
      allowedPeers: checkCidrs('TURN_ALLOWED_PEERS', r.list('TURN_ALLOWED_PEERS', [])),
      credentialTtlSeconds: r.int('TURN_CREDENTIAL_TTL', 3600, 60, 7 * 86400),
      userQuota,
      totalQuota,
      credentialsPerClient: r.int('TURN_CREDENTIALS_PER_CLIENT', defaultCredentialsPerClient(userQuota, totalQuota), 1, 1e6),
      maxBps: r.int('TURN_MAX_BPS', 0, 0, 1e10),
      promPort: r.port('TURN_PROM_PORT', 9641),
    },
    loadSampleMs: r.int('LOAD_SAMPLE_MS', 1000, 50, 60000),
    loadNoiseFloor: r.number('LOAD_NOISE_FLOOR', 0.02, 0, 0.5),
    rateLimit: {
      perSecond: r.number('RATE_LIMIT_PER_SECOND', 10, 0, 1e6),
      burst: r.int('RATE_LIMIT_BURST', 30, 1, 1e7),
      maxClients: r.int('RATE_LIMIT_CLIENTS', 100_000, 1, 1e7),
      holdMs: r.int('RATE_LIMIT_HOLD_MS', 2000, 0, 60_000),
    },
    version: '1.0.0',
  };
}

/**
 * One client address may hold at most 10 % of the TURN allocations: each
 * credential opens up to `userQuota`, so 10 % of `totalQuota` over it, and at
 * least one (then a single credential may exceed the share: a quota setting).
 */
export function defaultCredentialsPerClient(userQuota: number, totalQuota: number): number {
  return Math.max(1, Math.floor((totalQuota * 0.1) / userQuota));
}

function checkSubjectPrefix(p: string): string {
  if (p !== '' && !/^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/.test(p)) {
    throw new ConfigError('BUS_PREFIX', `expected dot-separated tokens of [A-Za-z0-9_-], got "${p}"`);
  }
  return p;
}

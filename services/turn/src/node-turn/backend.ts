import { createSocket, type Socket } from 'node:dgram';
import { isIP, isIPv6 } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { TurnBackend, TurnBackendDeps } from '../backend.js';
import { createPeerPolicy, ownAddressCidrs } from '../peer-policy.js';
import type { RelayAllocation } from './allocation.js';
import { applyCodecFixes } from './codec-fixes.js';
import {
  allocate, channelBind, createPermission, createReservations, refresh, send, type AllocationTable, type MethodContext,
} from './methods.js';
import {
  Address, CONSTANTS, Message, NodeTurnServer, Transport, assertTestedNodeTurn, installedNodeTurnVersion, type NtMessage, type NtServer,
} from './modules.js';
import { literalLookup } from './relay-socket.js';
import { createRestAuth } from './rest-auth.js';
import { isChannelData, readChannelData } from './wire.js';

const WILDCARDS = new Set(['0.0.0.0', '::']);
/** Receive and send buffer of the listening socket (the kernel caps it at net.core.rmem_max / wmem_max). */
const SERVER_SOCKET_BUFFER_BYTES = 2 * 1024 * 1024;
/** node-turn's 5-tuple key of a transport-like object (the allocation table's key). */
type TupleEnds = { protocol: number; src: { address: string; port: number }; dst: { address: string; port: number } };
const fiveTuple = (t: TupleEnds): string => (Transport.prototype.get5Tuple as (this: TupleEnds) => string).call(t);

/** The address put in XOR-RELAYED-ADDRESS: the listening IP, or the public one when listening on all. */
function relayIp(listenHost: string, publicHost: string): string {
  if (!WILDCARDS.has(listenHost)) return listenHost;
  if (isIP(publicHost)) return publicHost;
  for (const list of Object.values(networkInterfaces())) {
    for (const i of list ?? []) if (i.family === 'IPv4' && !i.internal) return i.address;
  }
  return '127.0.0.1';
}

function createTable(server: NtServer, deps: TurnBackendDeps): AllocationTable & { all(): RelayAllocation[] } {
  const byTuple = new Map<string, RelayAllocation>();
  const perUser = new Map<string, number>();
  return {
    get: (t) => byTuple.get(t),
    quotaExceeded: (u) => byTuple.size >= deps.config.totalQuota || (perUser.get(u) ?? 0) >= deps.config.userQuota,
    add(a) {
      byTuple.set(a.fiveTuple, a);
      server.allocations[a.fiveTuple] = a;
      perUser.set(a.username, (perUser.get(a.username) ?? 0) + 1);
      deps.metrics.allocations(byTuple.size);
    },
    remove(a) {
      if (byTuple.get(a.fiveTuple) !== a) return;
      byTuple.delete(a.fiveTuple);
      delete server.allocations[a.fiveTuple];
      const n = (perUser.get(a.username) ?? 1) - 1;
      if (n <= 0) perUser.delete(a.username);
      else perUser.set(a.username, n);
      a.close();
      deps.metrics.allocations(byTuple.size);
    },
    all: () => [...byTuple.values()],
  };
}

/**
 * node-turn made fit: its server object keeps the STUN codec, the binding
 * answer and the request dispatcher; our patches replace what the FINDINGS
 * measured broken (each patch names its defect where it is defined):
 * codec-fixes.ts (EVEN-PORT, unknown attributes, per-request integrity),
 * rest-auth.ts (REST credentials, CSPRNG stateless nonces), methods.ts
 * (ALLOCATE quota/lifetime/EVEN-PORT, REFRESH, peer deny list, ChannelBind
 * integrity), allocation.ts (relay sockets closed, both relay directions),
 * and the UDP front end below (ChannelData from clients).
 */
export function createNodeTurnBackend(deps: TurnBackendDeps & {
  /** The installed node-turn's version (tests hand in another). */
  nodeTurnVersion?: () => string;
}): TurnBackend {
  const { config, log, metrics } = deps;
  const version = deps.nodeTurnVersion ?? installedNodeTurnVersion;
  let socket: Socket | undefined;
  let table: ReturnType<typeof createTable> | undefined;
  const reservations = createReservations(config.totalQuota);

  function build(): NtServer {
    const server = new NodeTurnServer({
      listeningIps: [config.listenHost], listeningPort: config.port, realm: config.realm,
      authMech: 'long-term', debugLevel: 'OFF', log: (m: unknown) => log.debug({ nodeTurn: String(m) }, 'node-turn'),
    });
    server.software = 'mesh-node-turn';
    // A null-prototype table: 5-tuple keys can never hit Object.prototype.
    server.allocations = Object.create(null) as Record<string, unknown>;
    const auth = createRestAuth({ secret: deps.secret, realm: config.realm, metrics });
    server.authentification = auth;
    Object.assign(server, { integrityKey: auth.integrityKey });
    const t = createTable(server, deps);
    table = t;
    const ctx: MethodContext = {
      reservations, table: t, metrics, allowedPeer: createPeerPolicy(config.allowedPeers, ownAddressCidrs(config)),
      bindHost: config.listenHost, relayIp: relayIp(config.listenHost, config.publicHost),
      relayMinPort: config.relayMinPort, relayMaxPort: config.relayMaxPort, software: server.software,
    };
    for (const event of ['allocate', 'refresh', 'create_permission', 'channel_bind', 'send']) server.removeAllListeners(event);
    server.on('allocate', (msg: NtMessage, reply: NtMessage) => {
      allocate(ctx, msg, reply).catch((err: unknown) => {
        log.error({ err: String(err) }, 'allocate failed');
        reply.reject(500, 'Server Error');
      });
    });
    server.on('refresh', (msg: NtMessage, reply: NtMessage) => refresh(ctx, msg, reply));
    server.on('create_permission', (msg: NtMessage, reply: NtMessage) => createPermission(ctx, msg, reply));
    server.on('channel_bind', (msg: NtMessage, reply: NtMessage) => channelBind(ctx, msg, reply));
    server.on('send', (msg: NtMessage) => send(ctx, msg));
    return server;
  }

  /**
   * The UDP front end, replacing node-turn's Network. Defect fixed: node-turn
   * parsed every datagram as STUN, so ChannelData from clients (what browsers
   * send once a channel is bound) was dropped.
   */
  function onDatagram(server: NtServer, sock: Socket, local: InstanceType<typeof Address>, buf: Buffer, from: string, port: number): void {
    if (isChannelData(buf)) {
      // The hot path (every relayed packet of a bound channel): node-turn's own 5-tuple key, without
      // building its Address and Transport objects.
      const cd = readChannelData(buf);
      const a = cd && table?.get(fiveTuple({ protocol: CONSTANTS.TRANSPORT.PROTOCOL.UDP, src: { address: from, port }, dst: local }));
      const peer = a && cd ? a.channels.get(cd.channel) : undefined;
      if (a && cd && peer) a.toPeer(cd.data, peer.address, peer.port);
      return;
    }
    const transport = new Transport(CONSTANTS.TRANSPORT.PROTOCOL.UDP, new Address(from, port), local, sock);
    const msg = new Message(server, transport);
    try {
      // Only requests and indications come from clients.
      if (msg.read(buf) && (msg.class === CONSTANTS.CLASS.REQUEST || msg.class === CONSTANTS.CLASS.INDICATION)) {
        server.emit('message', msg);
      }
    } catch (err) {
      log.debug({ err: String(err), from }, 'node-turn: bad datagram');
    }
  }

  return {
    name: 'node-turn',
    tcp: false,
    async start() {
      if (socket) return;
      // Our patches act on node-turn's internals: an untested release must not run half-patched.
      assertTestedNodeTurn(version());
      applyCodecFixes();
      const server = build();
      // coturn's listener buffers (UR_SERVER_SOCK_BUF_SIZE): every client's packets queue on this one socket,
      // and the 208 KB default overflowed in bursts (bench/turn.bench.ts, RcvbufErrors on the node's host).
      const sock = createSocket({
        type: isIPv6(config.listenHost) ? 'udp6' : 'udp4', ipv6Only: false,
        recvBufferSize: SERVER_SOCKET_BUFFER_BYTES, sendBufferSize: SERVER_SOCKET_BUFFER_BYTES, lookup: literalLookup,
      });
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject);
        sock.bind({ address: config.listenHost, port: config.port, exclusive: true }, () => {
          sock.off('error', reject);
          resolve();
        });
      });
      sock.on('error', (err) => log.error({ err: err.message }, 'node-turn socket error'));
      const local = new Address(config.listenHost === '0.0.0.0' ? '0.0.0.0' : config.listenHost, sock.address().port);
      sock.on('message', (buf, rinfo) => onDatagram(server, sock, local, buf, rinfo.address, rinfo.port));
      socket = sock;
      metrics.backendUp('node-turn', true);
      log.info({ port: config.port }, 'node-turn serving');
    },
    async stop() {
      const s = socket;
      socket = undefined;
      for (const a of table?.all() ?? []) table?.remove(a);
      reservations.clear();
      if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
      metrics.backendUp('node-turn', false);
    },
    stats: () => ({ allocations: table?.all().length ?? 0, running: socket !== undefined }),
  };
}

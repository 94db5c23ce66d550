/** sigmesh: browser (and Node 20+) client of the mesh of WebRTC signaling nodes. */
export { createMesh, type Mesh, type MeshOptions, type JoinOptions } from './mesh.js';
export { Room, roomHash, type RoomMessage, type RoomNode, type RoomEvents, type SendOptions } from './room.js';
export { joinPeers, Peers, type PeersOptions, type PeersEvents, type ConnectionType, type CloseReason } from './peers.js';
export { Discovery, type DiscoveryOptions, type KnownNode, type LiveNode } from './discovery.js';
export { NodeClient, normalizeNodeUrl, isRoomHash, type NodeInfo, type Price, type IceServer, type TurnCredentials, type NodeClientOptions } from './node-client.js';
export type { ChannelSocket, ChannelSocketCtor } from './post-channel.js';
export { memoryStorage, webStorage, defaultStorage, type StorageAdapter } from './storage.js';
export { chooseNodes, rankNodes, rendezvousScore, type RankCandidate, type RankOptions } from './rendezvous.js';
export { createSolver, solve, type Solver, type SolverMode, type SolverOptions, type SolveOptions, type SolveProgress } from './solver.js';
export { powPrefix, powHeader, powThreshold, isValidProofHash, PowSearch, type PowChallenge } from './pow.js';
export { Sha256, sha256, sha256Hex, type Midstate } from './sha256.js';
export { SseParser, type SseEvent } from './sse.js';
export { deriveRoomKey, seal, open, type RoomKey } from './crypto.js';
export { SigmeshError, type SigmeshErrorCode } from './errors.js';
export { Emitter } from './emitter.js';
export type { Envelope, EnvelopeType } from './envelope.js';
export type * from './rtc-types.js';

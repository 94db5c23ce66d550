export { createDhtService, type DhtService, type DhtServiceOptions, type DhtInfo } from './service.js';
export { createDhtNode, type DhtNode, type DhtNodeFactory, type DhtNodeOptions } from './dht-node.js';
export { probePeer, canonicalNodeUrl, PROBE_MAX_BYTES, type ProbeFn, type ProbeOptions, type ProbeResult, type ProbeRejection } from './probe.js';
export { MAX_PORTS_PER_IP, type ProbeOutcome, type OfferSource } from './discovery.js';
export { DHT_STATE_KEY } from './state.js';
export * from './protocol.js';

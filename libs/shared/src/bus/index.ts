export * from './bus.js';
export { createLocalBus, createLocalBroker, type LocalBroker } from './local.js';
export { createNatsBus, REPLY_STATUS_HEADER, type NatsBusOptions } from './nats.js';
export { createBus } from './create.js';
export { RESPOND_QUEUE } from './subject.js';

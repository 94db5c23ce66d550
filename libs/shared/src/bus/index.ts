export * from './bus.js';
export { createLocalBus, createLocalBroker, type LocalBroker } from './local.js';
export { RESPOND_QUEUE } from './subject.js';
